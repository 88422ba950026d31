// The [evaluation] federated-evaluation keys at config load: parsed into the
// engine's config and the contract's EvaluationSpec, off by default, and
// the refused settings (DP, ranges, groups) with messages that say why.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator_config.h"

namespace fedlearn {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

absl::StatusOr<CoordinatorConfig> Load(const std::string& text) {
  absl::StatusOr<CoordinatorConfig> parsed =
      ParseCoordinatorConfig(text, "eval.toml");
  if (!parsed.ok()) return parsed;
  if (absl::Status s = ValidateCoordinatorConfig(*parsed); !s.ok()) return s;
  return parsed;
}

std::string Refusal(const std::string& text) {
  absl::StatusOr<CoordinatorConfig> loaded = Load(text);
  EXPECT_FALSE(loaded.ok()) << text;
  return std::string(loaded.status().message());
}

constexpr char kTabular[] =
    "[data]\nlabel_column = \"y\"\nclasses = [\"no\", \"yes\"]\n"
    "numeric_features = [\"a\", \"b\"]\n";

TEST(CoordinatorConfigEvaluationTest, OffByDefault) {
  absl::StatusOr<CoordinatorConfig> loaded = Load("");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->engine.evaluation.enabled());
  EXPECT_EQ(loaded->engine.evaluation.every, 0);
  EXPECT_TRUE(loaded->engine.evaluation.final);
  EXPECT_FALSE(loaded->engine.evaluation.per_site);
  EXPECT_EQ(loaded->engine.evaluation.max_examples, 1'000'000u);
  EXPECT_EQ(loaded->federated_eval_spec.holdout_fraction, 0.1);
}

TEST(CoordinatorConfigEvaluationTest, KeysParseIntoEngineAndSpec) {
  absl::StatusOr<CoordinatorConfig> loaded =
      Load(std::string(kTabular) +
           "[run]\nseed = 7\n[evaluation]\nevery = 5\nfinal = false\n"
           "holdout_fraction = 0.25\nscore_bins = 50\naccuracy_bins = 10\n"
           "loss_bins = 8\nmax_loss = 12.5\naccuracy_threshold = 0.7\n"
           "group_column = \"sex\"\ngroups = [\"f\", \"m\"]\nper_site = true\n"
           "max_examples = 5000\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const FederatedEvaluationConfig& e = loaded->engine.evaluation;
  EXPECT_EQ(e.every, 5);
  EXPECT_FALSE(e.final);
  EXPECT_TRUE(e.per_site);
  EXPECT_EQ(e.max_examples, 5000u);
  const v1::EvaluationSpec spec = ToEvaluationSpec(*loaded);
  EXPECT_EQ(spec.holdout_fraction(), 0.25);
  EXPECT_EQ(spec.split_seed(), 7u) << "0 means the run's seed";
  EXPECT_EQ(spec.score_bins(), 50u);
  EXPECT_EQ(spec.accuracy_bins(), 10u);
  EXPECT_EQ(spec.loss_bins(), 8u);
  EXPECT_EQ(spec.max_loss(), 12.5);
  EXPECT_EQ(spec.accuracy_threshold(), 0.7);
  EXPECT_EQ(spec.group_column(), "sex");
  ASSERT_EQ(spec.groups_size(), 2);
  EXPECT_EQ(spec.groups(1), "m");
}

TEST(CoordinatorConfigEvaluationTest, EvaluationWithDpIsRefused) {
  EXPECT_THAT(
      Refusal("[evaluation]\nevery = 1\n[dp]\nmode = \"central\"\n"
              "noise_multiplier = 1.0\nsampling_rate = 0.5\n"),
      AllOf(HasSubstr("evaluation.every"), HasSubstr("privacy accountant")));
}

TEST(CoordinatorConfigEvaluationTest, BadRangesAreRefused) {
  EXPECT_THAT(Refusal("[evaluation]\nevery = -1\n"),
              HasSubstr("evaluation.every"));
  EXPECT_THAT(Refusal("[evaluation]\nevery = 1\nholdout_fraction = 1.0\n"),
              HasSubstr("evaluation.holdout_fraction"));
  EXPECT_THAT(Refusal("[evaluation]\nevery = 1\naccuracy_bins = 0\n"),
              HasSubstr("evaluation.accuracy_bins"));
  EXPECT_THAT(Refusal("[evaluation]\nevery = 1\nmax_loss = 0\n"),
              HasSubstr("evaluation.max_loss"));
  EXPECT_THAT(Refusal("[evaluation]\nevery = 1\naccuracy_threshold = 1.5\n"),
              HasSubstr("evaluation.accuracy_threshold"));
  EXPECT_THAT(Refusal("[evaluation]\nevery = 1\nmax_examples = 0\n"),
              HasSubstr("evaluation.max_examples"));
}

TEST(CoordinatorConfigEvaluationTest, GroupsNeedAColumnAndATabularRun) {
  EXPECT_THAT(Refusal(std::string(kTabular) +
                      "[evaluation]\nevery = 1\ngroups = [\"f\", \"m\"]\n"),
              HasSubstr("go together"));
  EXPECT_THAT(Refusal("[evaluation]\nevery = 1\ngroup_column = \"sex\"\n"
                      "groups = [\"f\", \"m\"]\n"),
              HasSubstr("[data]"));
  EXPECT_THAT(Refusal(std::string(kTabular) +
                      "[evaluation]\nevery = 1\ngroup_column = \"sex\"\n"
                      "groups = [\"f\", \"f\"]\n"),
              HasSubstr("twice"));
}

TEST(CoordinatorConfigEvaluationTest, OffKeysChangeNothingWhileOff) {
  // Layout keys are still range-checked (every key is), but an off run
  // with in-range values validates as before.
  absl::StatusOr<CoordinatorConfig> loaded =
      Load("[evaluation]\nper_site = true\nholdout_fraction = 0.3\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->engine.evaluation.enabled());
}

}  // namespace
}  // namespace fedlearn
