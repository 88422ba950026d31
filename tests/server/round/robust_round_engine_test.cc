// Robust aggregation through the real round engine: a plaintext round with
// aggregator = median / krum releases the robust aggregate (unweighted),
// Krum with too few updates fails the attempt with its reason, and the
// engine refuses robust rules with secure aggregation, DP, an unbounded
// cohort or a cohort over the memory cap.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "tests/server/round/test_models.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::MakeModel;
using ::fedlearn::testing::Values;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Aggregator = RobustAggregationConfig::Aggregator;

constexpr char kRunId[] = "robust-run";

RoundEngineConfig RobustConfig(Aggregator aggregator) {
  RoundEngineConfig c;
  c.secagg.enabled = false;
  c.run_id = kRunId;
  c.num_rounds = 1;
  c.min_clients = 5;
  c.clients_per_round = 5;
  c.min_updates = 1;
  c.round_timeout = std::chrono::seconds(60);
  c.max_round_attempts = 2;
  c.client_liveness = std::chrono::hours(10);
  c.max_examples_per_update = 1'000'000;
  c.max_update_l2_norm = 1e7;
  c.robust.aggregator = aggregator;
  return c;
}

class Recorder : public RoundListener {
 public:
  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override {
    summaries.push_back(summary);
    models.push_back(Values(global.values));
    return absl::OkStatus();
  }
  void OnRoundRetried(uint64_t, int, const std::string& reason) override {
    retried.push_back(reason);
  }
  std::vector<RoundSummary> summaries;
  std::vector<std::vector<float>> models;
  std::vector<std::string> retried;
};

class RobustRoundEngineTest : public ::testing::Test {
 protected:
  void Start(RoundEngineConfig config, std::vector<float> initial) {
    absl::StatusOr<std::unique_ptr<RoundEngine>> engine = RoundEngine::Create(
        std::move(config), MakeModel(std::move(initial)), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    engine_->AddListener(&recorder_);
  }

  // Registers ids[i] with examples[i], starts round 1 and has all fetch.
  void Open(const std::vector<uint64_t>& examples) {
    for (size_t i = 0; i < examples.size(); ++i) {
      ASSERT_TRUE(engine_->Register(Id(i), examples[i]).ok());
    }
    engine_->Tick();
    for (size_t i = 0; i < examples.size(); ++i) {
      absl::StatusOr<FetchOutcome> out = engine_->FetchTask(Id(i));
      ASSERT_TRUE(out.ok() && out->task.has_value()) << Id(i);
    }
  }

  absl::Status Submit(size_t i, uint64_t examples, std::vector<float> delta) {
    UpdateSubmission s;
    s.run_id = kRunId;
    s.round = 1;
    s.model_version = 0;
    s.num_examples = examples;
    s.train_loss = 0.5;
    s.delta = FlatVector(std::move(delta));
    return engine_->SubmitUpdate(Id(i), std::move(s));
  }

  static std::string Id(size_t i) { return "site-" + std::to_string(i); }

  FakeClock clock_;
  Recorder recorder_;
  std::unique_ptr<RoundEngine> engine_;
};

TEST_F(RobustRoundEngineTest, MedianRoundReleasesTheUnweightedMedian) {
  Start(RobustConfig(Aggregator::kMedian), {10, 20});
  // The outlier also claims by far the most examples: a weighted rule
  // would follow it, the (unweighted) median does not.
  const std::vector<uint64_t> examples = {10, 10, 100000, 10, 10};
  Open(examples);
  const std::vector<std::vector<float>> deltas = {
      {1, 2}, {2, 3}, {1e6f, -1e6f}, {3, 4}, {4, 5}};
  for (size_t i = 0; i < deltas.size(); ++i) {
    ASSERT_TRUE(Submit(i, examples[i], deltas[i]).ok()) << i;
  }
  engine_->Tick();
  ASSERT_EQ(recorder_.summaries.size(), 1u);
  EXPECT_THAT(recorder_.models[0], ElementsAre(13.0f, 23.0f));
  EXPECT_EQ(recorder_.summaries[0].participants, 5);
  EXPECT_DOUBLE_EQ(recorder_.summaries[0].total_examples, 100040.0);
}

TEST_F(RobustRoundEngineTest, KrumRoundReleasesTheSelectedUpdate) {
  Start(RobustConfig(Aggregator::kKrum), {0, 0});
  Open({10, 10, 10, 10, 10});
  const std::vector<std::vector<float>> deltas = {
      {2, 2}, {100, 100}, {1, 0}, {0, 0.5f}, {0, 2}};
  for (size_t i = 0; i < deltas.size(); ++i) {
    ASSERT_TRUE(Submit(i, 10, deltas[i]).ok()) << i;
  }
  engine_->Tick();
  ASSERT_EQ(recorder_.models.size(), 1u);
  // Scores (f = 1: the two nearest squared distances): {2,2} 4+5 = 9,
  // {1,0} 1.25+5, {0,0.5} 1.25+2.25 = 3.5 (the lowest), {0,2} 2.25+4.
  EXPECT_THAT(recorder_.models[0], ElementsAre(0.0f, 0.5f));
}

TEST_F(RobustRoundEngineTest, KrumWithTooFewUpdatesFailsTheAttemptSayingWhy) {
  Start(RobustConfig(Aggregator::kKrum), {0});
  Open({10, 10, 10, 10, 10});
  for (size_t i = 0; i < 4; ++i) ASSERT_TRUE(Submit(i, 10, {1.0f}).ok());
  clock_.Advance(std::chrono::seconds(61));  // site-4 never answers
  engine_->Tick();
  EXPECT_TRUE(recorder_.summaries.empty());
  ASSERT_EQ(recorder_.retried.size(), 1u);
  EXPECT_THAT(recorder_.retried[0],
              HasSubstr("Krum with f = 1 Byzantine clients needs more than "
                        "2f+2 = 4 updates"));
}

TEST_F(RobustRoundEngineTest, RejectedUpdatesAreNeitherKeptNorAggregated) {
  RoundEngineConfig config = RobustConfig(Aggregator::kMedian);
  config.max_update_l2_norm = 100;
  Start(config, {0});
  Open({10, 10, 10, 10, 10});
  ASSERT_TRUE(Submit(0, 10, {1}).ok());
  ASSERT_TRUE(Submit(1, 10, {2}).ok());
  // Over the norm bound: refused, and it counts as site-2's answer.
  EXPECT_TRUE(absl::IsInvalidArgument(Submit(2, 10, {1000})));
  EXPECT_TRUE(absl::IsAlreadyExists(Submit(2, 10, {3})));
  ASSERT_TRUE(Submit(3, 10, {4}).ok());
  ASSERT_TRUE(Submit(4, 10, {9}).ok());
  engine_->Tick();
  ASSERT_EQ(recorder_.summaries.size(), 1u);
  EXPECT_EQ(recorder_.summaries[0].participants, 4);
  EXPECT_EQ(recorder_.summaries[0].rejected, 1);
  EXPECT_THAT(recorder_.models[0], ElementsAre(3.0f));  // median{1,2,4,9}
}

TEST_F(RobustRoundEngineTest, MultiKrumAveragesNMinusFByDefault) {
  Start(RobustConfig(Aggregator::kMultiKrum), {0});
  Open({10, 10, 10, 10, 10});
  // f = 1, m = n - f = 4: every update but the outlier.
  const std::vector<float> deltas = {1, 2, 500, 3, 6};
  for (size_t i = 0; i < deltas.size(); ++i) {
    ASSERT_TRUE(Submit(i, 10, {deltas[i]}).ok()) << i;
  }
  engine_->Tick();
  ASSERT_EQ(recorder_.models.size(), 1u);
  EXPECT_THAT(recorder_.models[0], ElementsAre(3.0f));  // (1+2+3+6)/4
}

TEST_F(RobustRoundEngineTest, EngineRefusesRobustRulesItCannotRun) {
  auto create = [this](RoundEngineConfig c, size_t dimension) {
    return RoundEngine::Create(std::move(c),
                               MakeModel(std::vector<float>(dimension, 0.0f)),
                               1, &clock_, nullptr)
        .status();
  };
  RoundEngineConfig secure = RobustConfig(Aggregator::kMedian);
  secure.secagg.enabled = true;
  EXPECT_THAT(create(secure, 2).message(),
              HasSubstr("only sees the sum of masked updates"));

  RoundEngineConfig dp = RobustConfig(Aggregator::kTrimmedMean);
  dp.dp.mode = DpConfig::Mode::kCentral;
  EXPECT_THAT(create(dp, 2).message(), HasSubstr("sensitivity"));

  RoundEngineConfig fraction = RobustConfig(Aggregator::kKrum);
  fraction.clients_per_round = 0;
  EXPECT_THAT(create(fraction, 2).message(),
              HasSubstr("set rounds.clients_per_round (> 0)"));

  // 5 x 2^20 values x 4 bytes = 20 MiB > 16 MiB.
  RoundEngineConfig big = RobustConfig(Aggregator::kMedian);
  big.robust.max_memory_mb = 16;
  const absl::Status memory = create(big, size_t{1} << 20);
  EXPECT_TRUE(absl::IsInvalidArgument(memory));
  EXPECT_THAT(memory.message(),
              HasSubstr("= 20 MiB exceeds strategy.robust_max_memory_mb (16)"));
  big.robust.max_memory_mb = 20;
  EXPECT_TRUE(create(big, size_t{1} << 20).ok());
  // FedAvg keeps no updates: no cap.
  big.robust.aggregator = Aggregator::kMean;
  big.robust.max_memory_mb = 1;
  EXPECT_TRUE(create(big, size_t{1} << 20).ok());
}

}  // namespace
}  // namespace fedlearn
