#include "server/report/run_report.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/report/report_fixture.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_report::FixtureMetrics;
using testing_report::RunFixture;
using testing_report::WriteFile;
using testing_report::WriteStateDir;
using testing_util::ScopedTempDir;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// Lines of a fixture's metrics.jsonl.
std::vector<std::string> Lines(const RunFixture& f) {
  std::vector<std::string> out;
  const std::string text = FixtureMetrics(f);
  for (size_t start = 0; start < text.size();) {
    const size_t end = text.find('\n', start);
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

TEST(RunReportTest, LoadsEveryRoundTheCheckpointAndTheConfiguration) {
  ScopedTempDir dir;
  RunFixture f;
  f.dp = true;
  f.rounds = 4;
  WriteStateDir(dir.path(), f);
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->run_id, "report-test");
  EXPECT_EQ(r->completed_round, 4u);
  ASSERT_EQ(r->rounds.size(), 4u);
  EXPECT_EQ(r->rounds[2].line, 3);
  EXPECT_THAT(RoundNumbers(*r), ElementsAre(1, 2, 3, 4));
  ASSERT_TRUE(r->config.has_value());
  EXPECT_EQ(r->config->rounds, 4);
  EXPECT_EQ(r->config->dp_mode, "distributed");
  EXPECT_EQ(r->config->epsilon_budget, 8.0);  // target_epsilon: the budget
  EXPECT_EQ(r->config->secure_aggregation, true);
  EXPECT_TRUE(r->warnings.empty());
}

TEST(RunReportTest, MissingDirectoryOrFileIsNotFoundNamingIt) {
  ScopedTempDir dir;
  absl::StatusOr<RunReport> r = LoadRunReport(dir.File("nope"));
  EXPECT_TRUE(absl::IsNotFound(r.status()));
  EXPECT_THAT(Message(r.status()), HasSubstr(dir.File("nope")));
  r = LoadRunReport(dir.path());
  EXPECT_TRUE(absl::IsNotFound(r.status()));
  EXPECT_THAT(Message(r.status()), HasSubstr(dir.File("checkpoint.json")));
  WriteFile(dir.File("checkpoint.json"),
            "{\"run_id\": \"x\", \"completed_round\": 2}");
  r = LoadRunReport(dir.path());
  EXPECT_TRUE(absl::IsNotFound(r.status()));
  EXPECT_THAT(Message(r.status()), HasSubstr(dir.File("metrics.jsonl")));
}

TEST(RunReportTest, StartedRunWithoutARoundYetHasNoMetricsFileAndNoRounds) {
  ScopedTempDir dir;
  WriteFile(dir.File("checkpoint.json"),
            "{\"run_id\": \"x\", \"completed_round\": 0}");
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->rounds.empty());
  EXPECT_TRUE(r->warnings.empty());
}

TEST(RunReportTest, MalformedLineIsAnErrorWithItsLineNumber) {
  std::vector<std::string> lines = Lines(RunFixture{});
  lines[2] = lines[2].substr(0, lines[2].size() / 2);  // cut, but terminated
  std::vector<std::string> warnings;
  absl::StatusOr<std::vector<RoundRecord>> r =
      ParseMetricsJsonl(Join(lines), "m.jsonl", &warnings);
  EXPECT_TRUE(absl::IsDataLoss(r.status()));
  EXPECT_THAT(Message(r.status()), HasSubstr("m.jsonl:3: not valid JSON"));
}

TEST(RunReportTest, TornLastLineIsLeftOutWithAWarning) {
  std::string text = FixtureMetrics(RunFixture{});
  text.resize(text.size() - 40);  // the last append never finished
  std::vector<std::string> warnings;
  absl::StatusOr<std::vector<RoundRecord>> r =
      ParseMetricsJsonl(text, "m.jsonl", &warnings);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 4u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("m.jsonl:5: the last line is incomplete"));
}

TEST(RunReportTest, KnownKeyOfTheWrongTypeNamesLineAndKey) {
  RunFixture f;
  f.dp = true;
  std::vector<std::string> lines = Lines(f);
  nlohmann::json j = nlohmann::json::parse(lines[1]);
  j["dp"]["epsilon"] = "3.2";
  lines[1] = j.dump();
  std::vector<std::string> warnings;
  absl::StatusOr<std::vector<RoundRecord>> r =
      ParseMetricsJsonl(Join(lines), "m.jsonl", &warnings);
  EXPECT_THAT(
      Message(r.status()),
      HasSubstr("m.jsonl:2: 'dp/epsilon' must be a number, got string"));
}

TEST(RunReportTest, LineWithoutARoundOrOfAnotherRunIsRefused) {
  std::vector<std::string> lines = Lines(RunFixture{});
  std::vector<std::string> warnings;
  std::vector<std::string> no_round = lines;
  no_round[1] = "{\"run_id\": \"report-test\"}";
  EXPECT_THAT(
      Message(ParseMetricsJsonl(Join(no_round), "m", &warnings).status()),
      HasSubstr("m:2: 'round'"));
  std::vector<std::string> other = lines;
  nlohmann::json j = nlohmann::json::parse(other[3]);
  j["run_id"] = "other\nrun";
  other[3] = j.dump();
  const std::string message =
      Message(ParseMetricsJsonl(Join(other), "m", &warnings).status());
  EXPECT_THAT(message, HasSubstr("m:4: run_id 'other\\nrun' differs"));
}

TEST(RunReportTest, RoundGoingBackIsAnErrorARepeatKeepsTheLaterRecord) {
  std::vector<std::string> lines = Lines(RunFixture{});
  std::vector<std::string> back = {lines[0], lines[2], lines[1]};
  std::vector<std::string> warnings;
  EXPECT_THAT(Message(ParseMetricsJsonl(Join(back), "m", &warnings).status()),
              HasSubstr("m:3: round 2 after round 3"));
  // A crash between the metrics line and the checkpoint: round 2 is redone.
  nlohmann::json redo = nlohmann::json::parse(lines[1]);
  redo["participants"] = 99;
  std::vector<std::string> repeat = {lines[0], lines[1], redo.dump(), lines[2]};
  absl::StatusOr<std::vector<RoundRecord>> r =
      ParseMetricsJsonl(Join(repeat), "m", &warnings);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[1].fields["participants"], 99);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("round 2 is recorded twice"));
}

TEST(RunReportTest, EmptyLineInTheMiddleIsAnError) {
  std::vector<std::string> lines = Lines(RunFixture{});
  lines.insert(lines.begin() + 1, "");
  std::vector<std::string> warnings;
  EXPECT_THAT(Message(ParseMetricsJsonl(Join(lines), "m", &warnings).status()),
              HasSubstr("m:2: empty line"));
}

TEST(RunReportTest, RunWithoutConfigFileLoadsAndSaysSoByAnEmptyConfig) {
  ScopedTempDir dir;
  RunFixture f;
  f.write_config = false;
  WriteStateDir(dir.path(), f);
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->config.has_value());
}

TEST(RunReportTest, CorruptConfigOrCheckpointIsAnErrorNamingTheFile) {
  ScopedTempDir dir;
  WriteStateDir(dir.path(), RunFixture{});
  WriteFile(dir.File("run-config.toml"), "[run\nid = 1\n");
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  EXPECT_TRUE(absl::IsDataLoss(r.status()));
  EXPECT_THAT(Message(r.status()), HasSubstr(dir.File("run-config.toml")));
  EXPECT_THAT(Message(r.status()), HasSubstr("line 1"));
  WriteStateDir(dir.path(), RunFixture{});
  WriteFile(dir.File("checkpoint.json"), "{\"run_id\": 7}");
  r = LoadRunReport(dir.path());
  EXPECT_THAT(Message(r.status()), HasSubstr("checkpoint.json is corrupt"));
}

TEST(RunReportTest, CheckpointOfAnotherRunIsAnErrorAnEarlierRoundAWarning) {
  ScopedTempDir dir;
  WriteStateDir(dir.path(), RunFixture{});
  WriteFile(dir.File("checkpoint.json"),
            "{\"run_id\": \"other\", \"completed_round\": 5}");
  EXPECT_THAT(Message(LoadRunReport(dir.path()).status()),
              HasSubstr("belongs to run 'report-test', checkpoint.json to "
                        "'other'"));
  WriteFile(dir.File("checkpoint.json"),
            "{\"run_id\": \"report-test\", \"completed_round\": 4}");
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_THAT(r->warnings[0], HasSubstr("redoes round 5"));
}

TEST(RunReportTest, SeriesAreNaNWhereAbsentAndCountArrays) {
  ScopedTempDir dir;
  RunFixture f;  // no DP: no "dp" key at all
  f.rounds = 3;
  WriteStateDir(dir.path(), f);
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  for (double eps : RoundSeries(*r, "/dp/epsilon"))
    EXPECT_TRUE(std::isnan(eps));
  EXPECT_THAT(RoundSeries(*r, "/dropped"), ElementsAre(1, 0, 1));
  EXPECT_THAT(RoundSeries(*r, "/secure_aggregation"), ElementsAre(0, 0, 0));
}

TEST(RunReportTest, BudgetIsEpsilonBudgetElseTargetEpsilonElseNone) {
  auto budget = [](const std::string& dp) {
    absl::StatusOr<RunConfigFile> c = ParseRunConfig("[dp]\n" + dp, "c.toml");
    EXPECT_TRUE(c.ok()) << c.status();
    return c->epsilon_budget;
  };
  EXPECT_EQ(budget("epsilon_budget = 3.5\ntarget_epsilon = 8.0\n"), 3.5);
  EXPECT_EQ(budget("epsilon_budget = 0.0\ntarget_epsilon = 8\n"), 8.0);
  EXPECT_EQ(budget("epsilon_budget = 0.0\n"), std::nullopt);
}

}  // namespace
}  // namespace fedlearn
