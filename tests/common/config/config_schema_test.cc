#include "common/config/config_schema.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

enum class Color { kRed, kBlue };

struct Settings {
  bool verbose = false;
  int32_t workers = 4;
  uint32_t port = 7443;
  double rate = 0.05;
  std::string name = "demo";
  std::vector<std::string> tags = {"a", "b"};
  std::vector<int64_t> shape = {1, 28, 28};
  Color color = Color::kRed;
  int64_t timeout_ms = 1500;
};

ConfigSchema<Settings> MakeSchema() {
  ConfigSchema<Settings> s("Settings reference.\nSecond line.");
  s.Section("main", "the main things");
  s.Field(
      "main.verbose", "say more", [](auto& c) -> auto& { return c.verbose; });
  s.Field(
       "main.workers", "threads", [](auto& c) -> auto& { return c.workers; })
      .AtLeast(1);
  s.Field(
      "main.port", "", [](auto& c) -> auto& { return c.port; });
  s.Field(
       "main.rate", "per step", [](auto& c) -> auto& { return c.rate; })
      .Within(0, 1, true, false);
  s.Field(
       "main.name", "", [](auto& c) -> auto& { return c.name; })
      .Flag("--name");
  s.Field(
      "other.tags", "labels\nsecond doc line",
      [](auto& c) -> auto& { return c.tags; });
  s.Field(
       "other.shape", "", [](auto& c) -> auto& { return c.shape; })
      .Above(0);
  s.Enum<Color>(
      "other.color", "red or blue",
      {{"red", Color::kRed}, {"blue", Color::kBlue}},
      [](auto& c) -> auto& { return c.color; });
  s.Mapped<double>(
      "other.timeout_s", "seconds",
      [](const Settings& c) { return c.timeout_ms / 1000.0; },
      [](double seconds, Settings& c) {
        c.timeout_ms = static_cast<int64_t>(seconds * 1000);
        return absl::OkStatus();
      });
  ConfigKeySpec& rows = s.Hook("other.rows", ConfigType::kTableList, "");
  rows.row_keys = {{"name", ConfigType::kString}, {"size", ConfigType::kInt}};
  return s;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(ConfigSchemaTest, ParseStoresEveryTypeIntoItsField) {
  const ConfigSchema<Settings> schema = MakeSchema();
  Settings s;
  ASSERT_TRUE(schema
                  .Parse(R"(
[main]
verbose = true
workers = 8
port = 9000
rate = 1          # an integer is a fine number
name = "study"
[other]
tags = ["x"]
shape = [30]
color = "blue"
timeout_s = 2.5
)",
                         "s.toml", &s)
                  .ok());
  EXPECT_TRUE(s.verbose);
  EXPECT_EQ(s.workers, 8);
  EXPECT_EQ(s.port, 9000u);
  EXPECT_DOUBLE_EQ(s.rate, 1.0);
  EXPECT_EQ(s.name, "study");
  EXPECT_THAT(s.tags, ElementsAre("x"));
  EXPECT_THAT(s.shape, ElementsAre(30));
  EXPECT_EQ(s.color, Color::kBlue);
  EXPECT_EQ(s.timeout_ms, 2500);
}

TEST(ConfigSchemaTest, KeysTheFileOmitsKeepTheirValues) {
  Settings s;
  ASSERT_TRUE(MakeSchema().Parse("[main]\nworkers = 2\n", "s.toml", &s).ok());
  EXPECT_EQ(s.workers, 2);
  EXPECT_EQ(s.name, "demo");
  EXPECT_EQ(s.timeout_ms, 1500);
}

TEST(ConfigSchemaTest, UnknownKeySectionAndTopLevelKeyAreRefusedByName) {
  const ConfigSchema<Settings> schema = MakeSchema();
  Settings s;
  absl::Status key = schema.Parse("[main]\nworker = 2\n", "typo.toml", &s);
  EXPECT_EQ(key.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(key), HasSubstr("typo.toml: unknown key 'main.worker'"));
  EXPECT_THAT(Message(schema.Parse("[mian]\nworkers = 2\n", "t.toml", &s)),
              HasSubstr("'mian.workers'"));
  EXPECT_THAT(Message(schema.Parse("workers = 2\n", "t.toml", &s)),
              HasSubstr("top-level key 'workers' must be a [section]"));
}

TEST(ConfigSchemaTest, WrongTypeIsRefusedNamingFileAndKey) {
  const ConfigSchema<Settings> schema = MakeSchema();
  for (const char* toml :
       {"[main]\nverbose = \"yes\"\n", "[main]\nworkers = 2.5\n",
        "[main]\nrate = \"fast\"\n", "[main]\nname = 5\n",
        "[other]\ntags = \"x\"\n", "[other]\nshape = [1, \"2\"]\n"}) {
    Settings s;
    absl::Status status = schema.Parse(toml, "t.toml", &s);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << toml;
    EXPECT_THAT(Message(status), HasSubstr("t.toml: '")) << toml;
    EXPECT_THAT(Message(status), HasSubstr("has the wrong type")) << toml;
  }
}

TEST(ConfigSchemaTest, IntegerTheFieldCannotHoldIsRefused) {
  const ConfigSchema<Settings> schema = MakeSchema();
  Settings s;
  EXPECT_THAT(Message(schema.Parse("[main]\nworkers = 4294967297\n", "t", &s)),
              HasSubstr("'main.workers' is out of range"));
  EXPECT_THAT(Message(schema.Parse("[main]\nport = -1\n", "t", &s)),
              HasSubstr("'main.port' must not be negative"));
  EXPECT_EQ(s.workers, 4);  // unchanged
}

TEST(ConfigSchemaTest, EnumNameOutsideItsValuesIsRefusedWhenApplied) {
  Settings s;
  absl::Status status =
      MakeSchema().Parse("[other]\ncolor = \"green\"\n", "t.toml", &s);
  EXPECT_THAT(Message(status),
              HasSubstr("other.color must be \"red\", \"blue\"; got "
                        "\"green\""));
}

TEST(ConfigSchemaTest, CheckNamesTheKeyTheRangeAndTheValue) {
  const ConfigSchema<Settings> schema = MakeSchema();
  Settings s;
  EXPECT_TRUE(schema.Check(s).ok());
  s.workers = 0;
  EXPECT_EQ(Message(schema.Check(s)), "main.workers must be >= 1, got 0");
  s = Settings();
  s.rate = 0;
  EXPECT_EQ(Message(schema.Check(s)), "main.rate must be in (0, 1], got 0.0");
  s.rate = std::nan("");
  EXPECT_THAT(Message(schema.Check(s)), HasSubstr("must be a finite number"));
  s = Settings();
  s.shape = {1, 0};
  EXPECT_EQ(Message(schema.Check(s)),
            "other.shape must hold values > 0, got [1, 0]");
}

TEST(ConfigSchemaTest, FlagOverridesAreTypeCheckedAndNameTheFlag) {
  const ConfigSchema<Settings> schema = MakeSchema();
  std::map<std::string, const ConfigKeySpec*> specs;
  for (const ConfigKeySpec* spec : schema.Specs()) specs[spec->key] = spec;
  Settings s;
  ASSERT_TRUE(schema.SetFromFlag(*specs["main.name"], {"cli"}, &s).ok());
  EXPECT_EQ(s.name, "cli");
  ASSERT_TRUE(schema.SetFromFlag(*specs["main.workers"], {"3"}, &s).ok());
  EXPECT_EQ(s.workers, 3);
  ASSERT_TRUE(schema.SetFromFlag(*specs["other.tags"], {"p", "q"}, &s).ok());
  EXPECT_THAT(s.tags, ElementsAre("p", "q"));
  EXPECT_THAT(Message(schema.SetFromFlag(*specs["main.workers"], {"x"}, &s)),
              HasSubstr("'x' is not an integer"));
  EXPECT_THAT(Message(schema.SetFromFlag(*specs["main.workers"], {"0"}, &s)),
              HasSubstr("main.workers must be >= 1"));
}

TEST(ConfigSchemaTest, ArrayOfTablesIsReadForAHookWithItsRowKeysChecked) {
  const ConfigSchema<Settings> schema = MakeSchema();
  absl::StatusOr<ConfigValues> values = schema.Read(
      "[[other.rows]]\nname = \"a\"\nsize = 2\n[[other.rows]]\nname = \"b\"\n",
      "t.toml");
  ASSERT_TRUE(values.ok()) << values.status();
  const auto* rows = values->Find<std::vector<ConfigRow>>("other.rows");
  ASSERT_NE(rows, nullptr);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(std::get<int64_t>(rows->at(0).at("size")), 2);
  EXPECT_EQ(std::get<std::string>(rows->at(1).at("name")), "b");
  EXPECT_THAT(
      Message(schema.Read("[[other.rows]]\nnmae = \"a\"\n", "t.toml").status()),
      HasSubstr("unknown key 'nmae' in [[other.rows]] (name, size)"));
}

TEST(ConfigSchemaTest, SyntaxErrorNamesFileAndLine) {
  Settings s;
  EXPECT_THAT(
      Message(MakeSchema().Parse("[main]\nworkers = = 3\n", "b.toml", &s)),
      HasSubstr("b.toml: "));
  EXPECT_THAT(
      Message(MakeSchema().Parse("[main]\nworkers = = 3\n", "b.toml", &s)),
      HasSubstr("line 2"));
}

TEST(ConfigSchemaTest, ReferenceListsEveryKeyWithItsDefaultAndDoc) {
  const std::string reference = MakeSchema().PrintReference(Settings());
  EXPECT_EQ(reference,
            "# Settings reference.\n"
            "# Second line.\n"
            "\n"
            "[main]                      # the main things\n"
            "verbose = false             # say more\n"
            "workers = 4                 # threads\n"
            "port = 7443\n"
            "rate = 0.05                 # per step\n"
            "name = \"demo\"               # [--name]\n"
            "\n"
            "[other]\n"
            "tags = [\"a\", \"b\"]           # labels\n"
            "                            # second doc line\n"
            "shape = [1, 28, 28]\n"
            "color = \"red\"               # red or blue\n"
            "timeout_s = 1.5             # seconds\n");
}

TEST(ConfigSchemaTest, ReferenceParsesBackToTheDefaults) {
  const ConfigSchema<Settings> schema = MakeSchema();
  Settings defaults;
  Settings parsed;
  parsed.workers = 99;
  parsed.name = "changed";
  ASSERT_TRUE(
      schema.Parse(schema.PrintReference(defaults), "ref.toml", &parsed).ok());
  EXPECT_EQ(schema.Values(parsed), schema.Values(defaults));
}

TEST(ConfigSchemaTest, RenderedValuesParseBackToTheSameConfig) {
  const ConfigSchema<Settings> schema = MakeSchema();
  Settings run;
  run.verbose = true;
  run.workers = 12;
  run.rate = 0.125;
  run.name = "run \"7\"\nsecond line";
  run.tags = {"x"};
  run.shape = {3, 32, 32};
  run.color = Color::kBlue;
  run.timeout_ms = 2250;
  const std::string text = schema.RenderValues(run, "Effective config.");
  EXPECT_THAT(text, HasSubstr("# Effective config.\n"));
  EXPECT_THAT(text, HasSubstr("workers = 12"));
  EXPECT_THAT(text, HasSubstr("color = \"blue\""));
  Settings parsed;
  ASSERT_TRUE(schema.Parse(text, "run-config.toml", &parsed).ok()) << text;
  EXPECT_EQ(schema.Values(parsed), schema.Values(run));
}

struct Interleaved {
  int64_t x = 1, y = 2, z = 3;
  std::optional<int64_t> seed;
};

TEST(ConfigSchemaTest, RenderGroupsASectionDeclaredInPiecesUnderOneHeader) {
  ConfigSchema<Interleaved> s("");
  s.Field(
      "a.x", "", [](auto& c) -> auto& { return c.x; });
  s.Field(
      "b.y", "", [](auto& c) -> auto& { return c.y; });
  s.Field(
      "a.z", "", [](auto& c) -> auto& { return c.z; });
  Interleaved v;
  v.z = 30;
  const std::string text = s.RenderValues(v, "");
  EXPECT_EQ(text, "\n[a]\nx = 1\nz = 30\n\n[b]\ny = 2\n");
  Interleaved parsed;
  ASSERT_TRUE(s.Parse(text, "t.toml", &parsed).ok());
  EXPECT_EQ(parsed.z, 30);
}

TEST(ConfigSchemaTest, RenderOnlyIfLeavesOutAnUnsetOptionalField) {
  ConfigSchema<Interleaved> s("");
  ConfigKeySpec& seed = s.Mapped<int64_t>(
      "a.seed", "testing only",
      [](const Interleaved& c) { return c.seed.value_or(1); },
      [](int64_t seed, Interleaved& c) {
        c.seed = seed;
        return absl::OkStatus();
      });
  s.RenderOnlyIf(seed, [](const Interleaved& c) { return c.seed.has_value(); });
  Interleaved unset;
  EXPECT_EQ(s.RenderValues(unset, ""), "");
  Interleaved set;
  set.seed = 1;
  Interleaved parsed;
  ASSERT_TRUE(s.Parse(s.RenderValues(set, ""), "t.toml", &parsed).ok());
  EXPECT_EQ(parsed.seed, std::optional<int64_t>(1));
}

TEST(ConfigSchemaTest, DoublesPrintShortestAndAlwaysAsFloats) {
  EXPECT_EQ(FormatConfigValue(0.05), "0.05");
  EXPECT_EQ(FormatConfigValue(1e-5), "1e-5");
  EXPECT_EQ(FormatConfigValue(120.0), "120.0");
  EXPECT_EQ(FormatConfigValue(std::string("a\"b")), "\"a\\\"b\"");
}

}  // namespace
}  // namespace fedlearn
