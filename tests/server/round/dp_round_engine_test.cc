// The round engine with differential privacy on, plaintext transport
// (central DP with a trusted coordinator). Secure rounds with DP are in
// secure_round_engine_test.cc; the planner's arithmetic in dp_planner_test.
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "tests/server/round/test_models.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::MakeModel;

using ::testing::HasSubstr;

constexpr char kRunId[] = "dp-run";

RoundEngineConfig DpBaseConfig() {
  RoundEngineConfig c;
  c.secagg.enabled = false;
  c.run_id = kRunId;
  c.num_rounds = 20;
  c.min_clients = 1;
  c.min_updates = 1;
  c.round_timeout = std::chrono::seconds(60);
  c.client_liveness = std::chrono::hours(10);
  c.max_examples_per_update = 1000;
  c.training.learning_rate = 0.1;
  c.training.local_epochs = 1;
  c.training.batch_size = 8;
  c.dp.mode = DpConfig::Mode::kCentral;
  c.dp.noise_multiplier = 1.0;
  c.dp.sampling_rate = 0.5;
  c.dp.clip_norm = 1.0;
  c.dp.testing_seed = 11;
  return c;
}

class Listener : public RoundListener {
 public:
  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override {
    summaries.push_back(summary);
    models.push_back(std::vector<float>(
        global.values.data(), global.values.data() + global.values.size()));
    return absl::OkStatus();
  }
  std::vector<RoundSummary> summaries;
  std::vector<std::vector<float>> models;
};

class DpRoundEngineTest : public ::testing::Test {
 protected:
  void Start(RoundEngineConfig config, std::vector<float> initial) {
    absl::StatusOr<std::unique_ptr<RoundEngine>> engine = RoundEngine::Create(
        std::move(config), MakeModel(std::move(initial)), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    engine_->AddListener(&listener_);
    for (int i = 0; i < kClients; ++i) {
      ids_.push_back("client-" + std::to_string(100 + i));
      ASSERT_TRUE(engine_->Register(ids_.back(), 10 + i).ok());
    }
  }

  // Fetches for every client; the selected ones submit `delta(i)`.
  // Returns the selected clients' indices.
  std::vector<int> PlayRound(
      const std::function<std::vector<float>(int)>& delta,
      std::vector<Task>* tasks = nullptr) {
    engine_->Tick();
    std::vector<int> selected;
    for (int i = 0; i < kClients; ++i) {
      absl::StatusOr<FetchOutcome> out = engine_->FetchTask(ids_[i]);
      EXPECT_TRUE(out.ok()) << out.status();
      if (!out.ok() || !out->task) continue;
      selected.push_back(i);
      if (tasks != nullptr) tasks->push_back(*out->task);
      UpdateSubmission s;
      s.run_id = kRunId;
      s.round = out->task->round;
      s.model_version = out->task->model_version;
      s.num_examples = 10 + i;  // ignored: DP-FedAvg weighs clients equally
      s.train_loss = 0.5;
      s.delta = FlatVector(delta(i));
      EXPECT_TRUE(engine_->SubmitUpdate(ids_[i], std::move(s)).ok());
    }
    engine_->Tick();
    return selected;
  }

  static constexpr int kClients = 40;
  FakeClock clock_;
  Listener listener_;
  std::unique_ptr<RoundEngine> engine_;
  std::vector<std::string> ids_;
};

TEST_F(DpRoundEngineTest, ModelMovesByTheClippedSumOverTheExpectedCohort) {
  RoundEngineConfig c = DpBaseConfig();
  c.dp.noise_multiplier = 1e-7;  // negligible: the arithmetic is visible
  Start(c, {0.0f, 0.0f, 0.0f});
  std::vector<Task> tasks;
  // Client i sends (3, 4, 0) * (i + 1) / 5: norm i + 1, so only client 0
  // is within C = 1; everyone else is clipped (by the engine, too) to
  // (0.6, 0.8, 0).
  const std::vector<int> selected = PlayRound(
      [](int i) {
        const float s = (i + 1) / 5.0f;
        return std::vector<float>{3 * s, 4 * s, 0};
      },
      &tasks);
  ASSERT_EQ(listener_.summaries.size(), 1u);
  ASSERT_FALSE(selected.empty());
  ASSERT_NE(tasks[0].dp, nullptr);
  EXPECT_EQ(tasks[0].dp->mode(), v1::DpTaskConfig::CENTRAL);
  EXPECT_DOUBLE_EQ(tasks[0].dp->clip_norm(), 1.0);
  // Every selected client contributes (0.6, 0.8) (client 0's norm is exactly
  // 1); the denominator is q * 40 = 20 whatever the cohort size.
  const double n = static_cast<double>(selected.size());
  const std::vector<float>& model = listener_.models[0];
  EXPECT_NEAR(model[0], 0.6 * n / 20.0, 1e-5);
  EXPECT_NEAR(model[1], 0.8 * n / 20.0, 1e-5);
  EXPECT_NEAR(model[2], 0.0, 1e-5);
  const RoundSummary& s = listener_.summaries[0];
  ASSERT_TRUE(s.dp.has_value());
  EXPECT_EQ(s.dp->mode, "central");
  EXPECT_DOUBLE_EQ(s.dp->expected_clients, 20.0);
  EXPECT_GT(s.dp->epsilon, 0.0);
  EXPECT_TRUE(std::isnan(s.train_loss));  // not reported under DP
}

TEST_F(DpRoundEngineTest, CohortSizeVariesAcrossRounds) {
  Start(DpBaseConfig(), {0.0f});
  std::set<size_t> sizes;
  for (int r = 0; r < 8; ++r) {
    sizes.insert(
        PlayRound([](int) { return std::vector<float>{0.1f}; }).size());
  }
  EXPECT_GT(sizes.size(), 1u);  // Poisson, not a fixed count
  ASSERT_EQ(listener_.summaries.size(), 8u);
  for (size_t r = 1; r < 8; ++r) {
    EXPECT_GT(listener_.summaries[r].dp->epsilon,
              listener_.summaries[r - 1].dp->epsilon);
  }
}

TEST_F(DpRoundEngineTest, BudgetStopsTheRunExactlyBeforeItIsExceeded) {
  RoundEngineConfig c = DpBaseConfig();
  RdpAccountant a;
  ASSERT_TRUE(a.AddSteps(0.5, 1.0, 4).ok());
  const double eps4 = a.GetPrivacySpent(c.dp.delta)->epsilon;
  ASSERT_TRUE(a.AddSteps(0.5, 1.0, 1).ok());
  const double eps5 = a.GetPrivacySpent(c.dp.delta)->epsilon;
  c.dp.epsilon_budget = (eps4 + eps5) / 2;
  Start(c, {0.0f});
  for (int r = 0; r < 6; ++r) {
    PlayRound([](int) { return std::vector<float>{0.1f}; });
  }
  EXPECT_EQ(listener_.summaries.size(), 4u);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  EXPECT_TRUE(engine_->outcome().ok());
  EXPECT_THAT(engine_->finished_reason(), HasSubstr("privacy budget reached"));
  EXPECT_DOUBLE_EQ(listener_.summaries.back().dp->epsilon, eps4);
  EXPECT_LE(listener_.summaries.back().dp->epsilon, c.dp.epsilon_budget);
  absl::StatusOr<FetchOutcome> out = engine_->FetchTask(ids_[0]);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->run_finished);
  EXPECT_THAT(out->reason, HasSubstr("privacy budget"));
}

TEST_F(DpRoundEngineTest, ResumedLedgerChargesOnTopOfTheSpentBudget) {
  RoundEngineConfig c = DpBaseConfig();
  c.dp_state.ledger.push_back({0.5, 1.0, 3});
  c.dp_state.clip_norm = 0.25;
  Start(c, {0.0f});
  std::vector<Task> tasks;
  PlayRound([](int) { return std::vector<float>{1.0f}; }, &tasks);
  ASSERT_EQ(listener_.summaries.size(), 1u);
  RdpAccountant a;
  ASSERT_TRUE(a.AddSteps(0.5, 1.0, 4).ok());
  EXPECT_DOUBLE_EQ(listener_.summaries[0].dp->epsilon,
                   a.GetPrivacySpent(c.dp.delta)->epsilon);
  EXPECT_DOUBLE_EQ(tasks.at(0).dp->clip_norm(), 0.25);  // restored C
  ASSERT_EQ(listener_.summaries[0].dp->state.ledger.size(), 1u);
  EXPECT_EQ(listener_.summaries[0].dp->state.ledger[0].count, 4);
}

TEST_F(DpRoundEngineTest, NonFiniteUpdateIsRejectedNotClipped) {
  RoundEngineConfig c = DpBaseConfig();
  c.dp.sampling_rate = 1.0;
  Start(c, {0.0f});
  engine_->Tick();
  absl::StatusOr<FetchOutcome> out = engine_->FetchTask(ids_[0]);
  ASSERT_TRUE(out.ok() && out->task);
  UpdateSubmission s;
  s.run_id = kRunId;
  s.round = 1;
  s.model_version = 0;
  s.num_examples = 1;
  s.delta = FlatVector(std::vector<float>{std::nanf("")});
  EXPECT_TRUE(
      absl::IsInvalidArgument(engine_->SubmitUpdate(ids_[0], std::move(s))));
}

TEST(DpRoundEngineConfigTest, DistributedWithoutSecureAggregationIsRefused) {
  RoundEngineConfig c = DpBaseConfig();
  c.dp.mode = DpConfig::Mode::kDistributed;
  FakeClock clock;
  absl::StatusOr<std::unique_ptr<RoundEngine>> e =
      RoundEngine::Create(c, MakeModel({0.0f}), 1, &clock, nullptr);
  EXPECT_THAT(std::string(e.status().message()),
              HasSubstr("needs secure aggregation"));
}

}  // namespace
}  // namespace fedlearn
