// The [strategy] robust-aggregation keys and training.proximal_mu at config
// load: parsed into the engine's config, and the refused combinations
// (secure aggregation, DP, parameters no cohort satisfies) with messages
// that say why and what to change.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator_config.h"

namespace fedlearn {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Aggregator = RobustAggregationConfig::Aggregator;

// The defaults sample 10 clients per round.
constexpr char kPlain[] = "[secagg]\nenabled = false\n";

absl::StatusOr<CoordinatorConfig> Load(const std::string& text) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseCoordinatorConfig(text, "robust.toml");
  if (!parsed.ok()) return parsed;
  if (absl::Status s = ValidateCoordinatorConfig(*parsed); !s.ok()) return s;
  return parsed;
}

std::string Refusal(const std::string& text) {
  absl::StatusOr<CoordinatorConfig> loaded = Load(text);
  EXPECT_FALSE(loaded.ok()) << text;
  return std::string(loaded.status().message());
}

TEST(CoordinatorConfigRobustTest, DefaultsAreTheWeightedMeanAndNoProxTerm) {
  absl::StatusOr<CoordinatorConfig> loaded = Load("");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->engine.robust.aggregator, Aggregator::kMean);
  EXPECT_EQ(loaded->engine.training.proximal_mu, 0.0);
}

TEST(CoordinatorConfigRobustTest, RobustKeysParseIntoTheEngineConfig) {
  absl::StatusOr<CoordinatorConfig> loaded =
      Load(std::string(kPlain) +
           "[strategy]\naggregator = \"multi_krum\"\nkrum_byzantine = 2\n"
           "multi_krum_selected = 6\nrobust_max_memory_mb = 64\n"
           "[training]\nproximal_mu = 0.01\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const RobustAggregationConfig& r = loaded->engine.robust;
  EXPECT_EQ(r.aggregator, Aggregator::kMultiKrum);
  EXPECT_EQ(r.krum_byzantine, 2);
  EXPECT_EQ(r.multi_krum_selected, 6);
  EXPECT_EQ(r.max_memory_mb, 64);
  EXPECT_EQ(loaded->engine.training.proximal_mu, 0.01);
}

TEST(CoordinatorConfigRobustTest, RobustRuleWithSecureAggregationIsRefused) {
  // Secure aggregation is on by default.
  EXPECT_THAT(Refusal("[strategy]\naggregator = \"median\"\n"),
              AllOf(HasSubstr("aggregator = \"median\""),
                    HasSubstr("the coordinator only sees the sum of masked "
                              "updates; median/trimmed mean/Krum need "
                              "individual updates"),
                    HasSubstr("set [secagg] enabled = false"),
                    HasSubstr("use aggregator = \"mean\"")));
}

TEST(CoordinatorConfigRobustTest, RobustRuleWithCentralDpIsRefused) {
  EXPECT_THAT(Refusal(std::string(kPlain) +
                      "[strategy]\naggregator = \"trimmed_mean\"\n"
                      "[dp]\nmode = \"central\"\nnoise_multiplier = 1.0\n"
                      "sampling_rate = 0.5\n"),
              AllOf(HasSubstr("refused with differential privacy"),
                    HasSubstr("sensitivity of a sum of clipped updates")));
}

TEST(CoordinatorConfigRobustTest, ParametersNoCohortSatisfiesAreRefused) {
  const std::string plain = kPlain;
  // floor(0.05 x 10) = 0: the plain mean in disguise.
  EXPECT_THAT(Refusal(plain + "[strategy]\naggregator = \"trimmed_mean\"\n"
                              "trim_fraction = 0.05\n"),
              HasSubstr("trims floor(0.05 x 10) = 0 values"));
  EXPECT_THAT(Refusal(plain + "[strategy]\naggregator = \"trimmed_mean\"\n"
                              "trim_fraction = 0.5\n"),
              HasSubstr("strategy.trim_fraction must be in (0, 0.5)"));
  // 10 clients, f = 4: 10 <= 2f + 2.
  EXPECT_THAT(
      Refusal(plain +
              "[strategy]\naggregator = \"krum\"\nkrum_byzantine = 4\n"),
      AllOf(HasSubstr("rounds.clients_per_round = 10"),
            HasSubstr("needs more than 2f+2 = 10 updates")));
  EXPECT_THAT(Refusal(plain + "[strategy]\naggregator = \"multi_krum\"\n"
                              "multi_krum_selected = 10\n"),
              HasSubstr("[0, 9]"));
  EXPECT_THAT(Refusal(plain + "[strategy]\naggregator = \"median\"\n"
                              "[rounds]\nclients_per_round = 0\n"),
              HasSubstr("keeps every update of a round in memory"));
  EXPECT_THAT(Refusal(plain + "[strategy]\naggregator = \"bulyan\"\n"),
              HasSubstr("strategy.aggregator"));
}

TEST(CoordinatorConfigRobustTest, NegativeOrInfiniteProximalMuIsRefused) {
  EXPECT_THAT(Refusal("[training]\nproximal_mu = -0.1\n"),
              HasSubstr("proximal_mu"));
  EXPECT_THAT(Refusal("[training]\nproximal_mu = inf\n"),
              HasSubstr("training.proximal_mu must be a finite number"));
}

}  // namespace
}  // namespace fedlearn
