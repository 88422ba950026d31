// [strategy] name = "qffl": its TOML keys, the combinations refused at
// config load (with DP, with a robust aggregator), and resuming.
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator_config.h"
#include "server/strategy/qffl.h"
#include "server/strategy/server_optimizer.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using Kind = ServerOptimizerConfig::Kind;

absl::Status Load(const std::string& toml) {
  absl::StatusOr<CoordinatorConfig> c = ParseCoordinatorConfig(toml, "t.toml");
  return c.ok() ? ValidateCoordinatorConfig(*c) : c.status();
}

TEST(QfflConfigTest, TomlKeysReachTheEngineAndTheTask) {
  absl::StatusOr<CoordinatorConfig> c = ParseCoordinatorConfig(
      "[strategy]\nname = \"qffl\"\nqffl_q = 5.0\nqffl_lipschitz = 20.0\n",
      "t.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(ValidateCoordinatorConfig(*c).ok());
  EXPECT_EQ(c->engine.strategy.kind, Kind::kQffl);
  TrainingConfig task = c->engine.training;
  SetQfflTaskFields(c->engine.strategy, &task);
  EXPECT_EQ(task.qffl_q, 5.0);
  EXPECT_EQ(task.qffl_lipschitz, 20.0);

  // Defaults: q = 1, L = 1 / training.learning_rate.
  absl::StatusOr<CoordinatorConfig> d = ParseCoordinatorConfig(
      "[strategy]\nname = \"qffl\"\n[training]\nlearning_rate = 0.04\n",
      "t.toml");
  ASSERT_TRUE(d.ok()) << d.status();
  TrainingConfig defaults = d->engine.training;
  SetQfflTaskFields(d->engine.strategy, &defaults);
  EXPECT_EQ(defaults.qffl_q, 1.0);
  EXPECT_DOUBLE_EQ(defaults.qffl_lipschitz, 25.0);

  // Another strategy sends nothing (the task is as before q-FFL existed).
  absl::StatusOr<CoordinatorConfig> fedavg = ParseCoordinatorConfig("", "t");
  ASSERT_TRUE(fedavg.ok());
  TrainingConfig plain = fedavg->engine.training;
  SetQfflTaskFields(fedavg->engine.strategy, &plain);
  EXPECT_EQ(plain.qffl_q, 0.0);
  EXPECT_EQ(plain.qffl_lipschitz, 0.0);
}

TEST(QfflConfigTest, RefusedCombinationsAtConfigLoad) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[strategy]\nname = \"qffl\"\n[dp]\nmode = \"central\"\n"
       "noise_multiplier = 1.0\n[secagg]\nenabled = false\n",
       "unbounded"},
      {"[strategy]\nname = \"qffl\"\n[dp]\nmode = \"distributed\"\n"
       "noise_multiplier = 1.0\n",
       "differential privacy"},
      {"[strategy]\nname = \"qffl\"\naggregator = \"median\"\n"
       "[secagg]\nenabled = false\n[rounds]\nclients_per_round = 10\n",
       "strategy.aggregator"},
      {"[strategy]\nname = \"qffl\"\nqffl_q = -1.0\n", "strategy.qffl_q"},
      {"[strategy]\nname = \"qffl\"\nqffl_lipschitz = -2.0\n",
       "strategy.qffl_lipschitz"},
  };
  for (const auto& [toml, text] : cases) {
    const absl::Status s = Load(toml);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << toml << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(text)) << toml;
  }
  // q-FFL composes with secure aggregation (the default) and FedProx.
  EXPECT_TRUE(Load("[strategy]\nname = \"qffl\"\n[training]\n"
                   "proximal_mu = 0.01\n")
                  .ok());
}

TEST(QfflConfigTest, StatelessLikeFedAvgOnResume) {
  ServerOptimizerConfig qffl;
  qffl.kind = Kind::kQffl;
  // A q-FFL run saves no optimizer state; it resumes without one.
  EXPECT_TRUE(CheckStrategyResumable(qffl, std::nullopt, 4, "r").ok());
  ServerOptimizerState adam;
  adam.optimizer = "fedadam";
  EXPECT_FALSE(CheckStrategyResumable(qffl, adam, 4, "r").ok());
  EXPECT_FALSE(CreateServerOptimizer(qffl, 1.0, 3, adam).ok());
  absl::StatusOr<std::unique_ptr<ServerOptimizer>> created =
      CreateServerOptimizer(qffl, 1.0, 3, std::nullopt);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)->name(), "qffl");
  EXPECT_EQ((*created)->state(), nullptr);
  EXPECT_EQ(UpdateValues(qffl, 3), 4u);
  EXPECT_EQ(UpdateValues(ServerOptimizerConfig{}, 3), 3u);
}

}  // namespace
}  // namespace fedlearn
