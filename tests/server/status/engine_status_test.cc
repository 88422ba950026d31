// RoundEngine::status_view() and a RunStatusTracker listening to a real
// engine (plaintext, central DP, fake clock): the counts, the privacy
// ledger and the open attempt's phase an operator's status shows.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "server/status/run_status_tracker.h"
#include "tests/server/round/test_models.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::MakeModel;

constexpr char kRunId[] = "status-run";
constexpr int kClients = 10;

RoundEngineConfig Config(bool dp) {
  RoundEngineConfig c;
  c.secagg.enabled = false;
  c.run_id = kRunId;
  c.num_rounds = 3;
  c.min_clients = 1;
  c.min_updates = 1;
  c.clients_per_round = 4;
  c.round_timeout = std::chrono::seconds(60);
  c.client_liveness = std::chrono::hours(10);
  c.max_examples_per_update = 1000;
  if (dp) {
    c.dp.mode = DpConfig::Mode::kCentral;
    c.dp.noise_multiplier = 1.0;
    c.dp.sampling_rate = 0.5;
    c.dp.clip_norm = 1.0;
    c.dp.epsilon_budget = 50;
    c.dp.testing_seed = 11;
  }
  return c;
}

class EngineStatusTest : public ::testing::Test {
 protected:
  void Start(bool dp) {
    auto engine =
        RoundEngine::Create(Config(dp), MakeModel({0, 0}), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    RunStatusTracker::Options options;
    options.run_id = kRunId;
    options.num_rounds = 3;
    options.clock = &clock_;
    tracker_ = std::make_unique<RunStatusTracker>(options);
    engine_->AddListener(tracker_.get());
    for (int i = 0; i < kClients; ++i) {
      ids_.push_back("client-" + std::to_string(i));
      ASSERT_TRUE(engine_->Register(ids_.back(), 10).ok());
    }
  }
  RunStatus Status() const {
    RunStatus status = tracker_->Snapshot();
    ApplyEngineView(engine_->status_view(), &status);
    return status;
  }
  // The selected clients submit a small update; returns how many did.
  int AnswerRound() {
    int answered = 0;
    for (const std::string& id : ids_) {
      absl::StatusOr<FetchOutcome> out = engine_->FetchTask(id);
      if (!out.ok() || !out->task) continue;
      UpdateSubmission s;
      s.run_id = kRunId;
      s.round = out->task->round;
      s.model_version = out->task->model_version;
      s.num_examples = 10;
      s.delta = FlatVector(std::vector<float>{0.1f, 0.1f});
      EXPECT_TRUE(engine_->SubmitUpdate(id, std::move(s)).ok());
      ++answered;
    }
    return answered;
  }

  FakeClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<RunStatusTracker> tracker_;
  std::vector<std::string> ids_;
};

TEST_F(EngineStatusTest, CountsRegisteredAndLiveClients) {
  Start(/*dp=*/false);
  ASSERT_TRUE(engine_->Leave(ids_[0], "", /*permanent=*/true, "bad data").ok());
  const RoundEngine::StatusView view = engine_->status_view();
  EXPECT_EQ(view.registered, static_cast<size_t>(kClients));
  EXPECT_EQ(view.live, static_cast<size_t>(kClients - 1));
  EXPECT_EQ(view.phase, RoundEngine::Phase::kWaitingForClients);
  EXPECT_EQ(view.round, 1u);
  EXPECT_EQ(view.num_rounds, 3);
  EXPECT_FALSE(view.dp);
}

TEST_F(EngineStatusTest, AnOpenRoundShowsItsPhaseAndCohort) {
  Start(/*dp=*/false);
  engine_->Tick();  // opens round 1
  const RunStatus s = Status();
  EXPECT_EQ(s.state, RunState::kRunning);
  EXPECT_EQ(s.round, 1u);
  EXPECT_EQ(s.attempt, 1);
  EXPECT_EQ(s.phase, "Training");
  EXPECT_EQ(s.clients_selected, 4);
  EXPECT_EQ(s.clients_registered, static_cast<size_t>(kClients));

  EXPECT_EQ(AnswerRound(), 4);
  engine_->Tick();  // releases round 1
  const RunStatus after = Status();
  EXPECT_EQ(after.rounds_completed, 1u);
  // The same Tick opened round 2: its phase, not round 1's.
  EXPECT_EQ(after.state, RunState::kRunning);
  EXPECT_EQ(after.round, 2u);
  EXPECT_EQ(after.attempt, 1);
  EXPECT_EQ(after.phase, "Training");
  ASSERT_TRUE(after.last_round.has_value());
  EXPECT_EQ(after.last_round->participants, 4);
}

TEST_F(EngineStatusTest, ADpRunShowsTheLedgerBeforeAndAfterARound) {
  Start(/*dp=*/true);
  RunStatus s = Status();
  EXPECT_TRUE(s.dp);
  EXPECT_EQ(s.epsilon_spent, 0);
  EXPECT_EQ(s.epsilon_budget, 50);
  EXPECT_EQ(s.delta, 1e-5);

  engine_->Tick();
  ASSERT_GT(AnswerRound(), 0);
  engine_->Tick();
  s = Status();
  ASSERT_TRUE(s.last_round.has_value());
  ASSERT_TRUE(s.last_round->epsilon.has_value());
  EXPECT_GT(s.epsilon_spent, 0);
  EXPECT_DOUBLE_EQ(s.epsilon_spent, *s.last_round->epsilon);
}

}  // namespace
}  // namespace fedlearn
