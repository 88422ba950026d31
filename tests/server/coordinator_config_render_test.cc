// RenderCoordinatorConfig: the effective configuration the coordinator
// writes to <state_dir>/run-config.toml parses back into the same config,
// with its own values (not the defaults), [data] and an optional testing
// seed included.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator_config.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Every bound key's value, and the [data] contract, of `c`.
void ExpectSameConfig(const CoordinatorConfig& a, const CoordinatorConfig& b) {
  const ConfigSchema<CoordinatorConfig>& schema = CoordinatorConfigSchema();
  EXPECT_EQ(schema.Values(a), schema.Values(b));
  ASSERT_EQ(a.data_schema.has_value(), b.data_schema.has_value());
  if (a.data_schema) {
    EXPECT_EQ(a.data_schema->CanonicalString(),
              b.data_schema->CanonicalString());
  }
  EXPECT_EQ(a.engine.dp.testing_seed, b.engine.dp.testing_seed);
}

TEST(CoordinatorConfigRenderTest, RenderedConfigParsesBackToTheSameValues) {
  CoordinatorConfig c = DefaultCoordinatorConfig();
  c.engine.run_id = "render \"run\"";
  c.engine.num_rounds = 7;
  c.engine.round_timeout = std::chrono::milliseconds(2500);
  c.engine.dp.mode = DpConfig::Mode::kCentral;
  c.engine.dp.epsilon_budget = 4.5;
  c.engine.dp.noise_multiplier = 1.25;
  c.simulation.clients = 3;
  c.state_dir = "/var/lib/fedlearn/state";
  const std::string text = RenderCoordinatorConfig(c);
  EXPECT_THAT(text, HasSubstr("rounds = 7"));
  EXPECT_THAT(text, HasSubstr("epsilon_budget = 4.5"));
  EXPECT_THAT(text, Not(HasSubstr("testing_seed")));  // unset stays unset
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseCoordinatorConfig(text, "run-config.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  ExpectSameConfig(*parsed, c);
  EXPECT_EQ(RenderCoordinatorConfig(*parsed), text);
}

TEST(CoordinatorConfigRenderTest, DataContractAndTestingSeedSurviveTheRender) {
  absl::StatusOr<CoordinatorConfig> c = ParseCoordinatorConfig(
      "[data]\nlabel_column = \"diagnosis\"\nclasses = [\"m\", \"b\"]\n"
      "label_match = \"case-insensitive\"\nmissing_values = \"drop-row\"\n"
      "[[data.columns]]\nname = \"age\"\n"
      "[[data.columns]]\nname = \"sex\"\ntype = \"categorical\"\n"
      "categories = [\"female\", \"male\"]\n"
      "[dp]\ntesting_seed = 1\n",
      "in.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string text = RenderCoordinatorConfig(*c);
  EXPECT_THAT(text, HasSubstr("testing_seed = 1"));
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseCoordinatorConfig(text, "run-config.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  ExpectSameConfig(*parsed, *c);
  EXPECT_EQ(parsed->model.input_shape, std::vector<int64_t>{3});
}

}  // namespace
}  // namespace fedlearn
