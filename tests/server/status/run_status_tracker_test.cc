// RunStatusTracker: the engine's hooks, called directly, become the snapshot
// fedlearn-status shows; ApplyEngineView overlays the engine's own counts.
#include "server/status/run_status_tracker.h"

#include <cmath>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using namespace std::chrono_literals;

RunStatusTracker::Options TrackerOptions(const Clock* clock) {
  RunStatusTracker::Options options;
  options.run_id = "run-7";
  options.coordinator_version = "fedlearn-coordinator test";
  options.num_rounds = 5;
  options.clock = clock;
  return options;
}

RoundSummary Summary(uint64_t round) {
  RoundSummary s;
  s.run_id = "run-7";
  s.round = round;
  s.attempt = 2;
  s.selected = 4;
  s.participants = 3;
  s.rejected = 1;
  s.dropped = {"site-c"};
  s.seconds = 1.5;
  s.secure = true;
  s.eval = EvalMetrics{};
  s.eval->accuracy = 0.875;
  s.eval->loss = 0.25;
  return s;
}

class RunStatusTrackerTest : public ::testing::Test {
 protected:
  RunStatusTrackerTest() : tracker_(TrackerOptions(&clock_)) {}
  void Complete(const RoundSummary& summary) {
    ASSERT_TRUE(tracker_.OnRoundCompleted(summary, model_).ok());
  }

  FakeClock clock_;
  RunStatusTracker tracker_;
  FlatModel model_;
};

TEST_F(RunStatusTrackerTest, BeforeAnyRoundItWaitsForTheFirst) {
  clock_.Advance(90s);
  const RunStatus s = tracker_.Snapshot();
  EXPECT_EQ(s.run_id, "run-7");
  EXPECT_EQ(s.coordinator_version, "fedlearn-coordinator test");
  EXPECT_EQ(s.state, RunState::kWaitingForClients);
  EXPECT_EQ(s.round, 1u);
  EXPECT_EQ(s.attempt, 0);
  EXPECT_EQ(s.rounds_configured, 5);
  EXPECT_EQ(s.rounds_completed, 0u);
  EXPECT_FALSE(s.last_round.has_value());
  EXPECT_DOUBLE_EQ(s.uptime_seconds, 90.0);
}

TEST_F(RunStatusTrackerTest, AStartedAttemptIsRunningWithItsCohortSize) {
  tracker_.OnRoundStarted(1, 1, {"a", "b", "c"});
  tracker_.OnPhaseStarted(1, 1, "Training");
  RunStatus s = tracker_.Snapshot();
  EXPECT_EQ(s.state, RunState::kRunning);
  EXPECT_EQ(s.round, 1u);
  EXPECT_EQ(s.attempt, 1);
  EXPECT_EQ(s.phase, "Training");
  EXPECT_EQ(s.clients_selected, 3);
  tracker_.OnPhaseStarted(1, 1, "MaskedInputCollection");
  EXPECT_EQ(tracker_.Snapshot().phase, "MaskedInputCollection");
}

// OnPhaseStarted comes from the engine with its lock held, OnRoundStarted
// later from the driver: the first phase of an attempt must survive it.
TEST_F(RunStatusTrackerTest, APhaseReportedBeforeOnRoundStartedIsKept) {
  tracker_.OnPhaseStarted(2, 1, "Training");
  RunStatus s = tracker_.Snapshot();
  EXPECT_EQ(s.state, RunState::kRunning);
  EXPECT_EQ(s.round, 2u);
  EXPECT_EQ(s.phase, "Training");
  EXPECT_EQ(s.clients_selected, 0);  // not told yet
  tracker_.OnRoundStarted(2, 1, {"a", "b"});
  s = tracker_.Snapshot();
  EXPECT_EQ(s.phase, "Training");
  EXPECT_EQ(s.clients_selected, 2);
}

TEST_F(RunStatusTrackerTest, APhaseOfAnEarlierAttemptNeverShowsBesideANewer) {
  tracker_.OnPhaseStarted(1, 1, "ShareKeys");
  tracker_.OnRoundRetried(1, 1, "too few");
  tracker_.OnRoundStarted(1, 2, {"a", "b", "c"});
  RunStatus s = tracker_.Snapshot();
  EXPECT_EQ(s.attempt, 2);
  EXPECT_EQ(s.phase, "");
  // A late hook of the old attempt changes nothing.
  tracker_.OnPhaseStarted(1, 1, "Unmasking");
  tracker_.OnRoundStarted(1, 1, {"x"});
  s = tracker_.Snapshot();
  EXPECT_EQ(s.phase, "");
  EXPECT_EQ(s.clients_selected, 3);
}

TEST_F(RunStatusTrackerTest, ARetriedAttemptWaitsForTheNext) {
  tracker_.OnRoundStarted(1, 1, {"a", "b"});
  tracker_.OnPhaseStarted(1, 1, "Training");
  tracker_.OnRoundRetried(1, 1, "only 1 update");
  const RunStatus s = tracker_.Snapshot();
  EXPECT_EQ(s.state, RunState::kWaitingForClients);
  EXPECT_EQ(s.round, 1u);
  EXPECT_EQ(s.attempt, 1);
  EXPECT_EQ(s.phase, "");
  EXPECT_EQ(s.clients_selected, 0);
}

TEST_F(RunStatusTrackerTest, ACompletedRoundKeepsOnlyItsAggregates) {
  tracker_.OnRoundStarted(1, 2, {"a", "b", "c", "d"});
  tracker_.OnPhaseStarted(1, 2, "Releasing");
  Complete(Summary(1));
  const RunStatus s = tracker_.Snapshot();
  EXPECT_EQ(s.state, RunState::kWaitingForClients);
  EXPECT_EQ(s.round, 2u);
  EXPECT_EQ(s.phase, "");
  EXPECT_EQ(s.rounds_completed, 1u);
  ASSERT_TRUE(s.last_round.has_value());
  const CompletedRoundStatus& r = *s.last_round;
  EXPECT_EQ(r.round, 1u);
  EXPECT_EQ(r.attempt, 2);
  EXPECT_EQ(r.selected, 4);
  EXPECT_EQ(r.participants, 3);
  EXPECT_EQ(r.dropped, 1);
  EXPECT_EQ(r.rejected, 1);
  EXPECT_EQ(r.test_accuracy, 0.875);
  EXPECT_EQ(r.test_loss, 0.25);
  EXPECT_DOUBLE_EQ(r.seconds, 1.5);
  EXPECT_TRUE(r.secure);
  EXPECT_FALSE(r.epsilon.has_value());
  EXPECT_FALSE(s.dp);
}

TEST_F(RunStatusTrackerTest, ADifferentiallyPrivateRoundReportsEpsilon) {
  RoundSummary summary = Summary(1);
  summary.eval.reset();
  summary.dp = RoundSummary::Dp{};
  summary.dp->epsilon = 0.75;
  Complete(summary);
  const RunStatus s = tracker_.Snapshot();
  EXPECT_TRUE(s.dp);
  EXPECT_DOUBLE_EQ(s.epsilon_spent, 0.75);
  ASSERT_TRUE(s.last_round.has_value());
  EXPECT_EQ(s.last_round->epsilon, 0.75);
  EXPECT_FALSE(s.last_round->test_accuracy.has_value());
}

TEST_F(RunStatusTrackerTest, TheRunEndsFinishedOrFailed) {
  Complete(Summary(5));
  tracker_.OnRunEnded(absl::OkStatus());
  RunStatus s = tracker_.Snapshot();
  EXPECT_EQ(s.state, RunState::kFinished);
  EXPECT_EQ(s.round, 5u);
  EXPECT_EQ(s.failure, "");

  RunStatusTracker failing(TrackerOptions(&clock_));
  failing.OnRoundStarted(1, 3, {"a"});
  failing.OnRunEnded(absl::UnavailableError("round 1 failed 3 attempts"));
  s = failing.Snapshot();
  EXPECT_EQ(s.state, RunState::kFailed);
  EXPECT_EQ(s.round, 1u);
  EXPECT_EQ(s.attempt, 3);
  EXPECT_EQ(s.failure, "round 1 failed 3 attempts");
}

TEST_F(RunStatusTrackerTest, AResumedRunCountsTheRoundsBeforeIt) {
  RunStatusTracker::Options options = TrackerOptions(&clock_);
  options.start_round = 4;
  RunStatusTracker resumed(options);
  const RunStatus s = resumed.Snapshot();
  EXPECT_EQ(s.round, 4u);
  EXPECT_EQ(s.rounds_completed, 3u);
}

RoundEngine::StatusView View(RoundEngine::Phase phase, uint64_t round,
                             int attempt) {
  RoundEngine::StatusView view;
  view.phase = phase;
  view.round = round;
  view.attempt = attempt;
  view.num_rounds = 5;
  view.registered = 12;
  view.live = 10;
  return view;
}

TEST_F(RunStatusTrackerTest, TheEngineViewAddsCountsAndKeepsTheOpenPhase) {
  tracker_.OnRoundStarted(2, 1, {"a", "b", "c"});
  tracker_.OnPhaseStarted(2, 1, "ShareKeys");
  RunStatus s = tracker_.Snapshot();
  RoundEngine::StatusView view = View(RoundEngine::Phase::kTraining, 2, 1);
  view.dp = true;
  view.epsilon_spent = 1.25;
  view.epsilon_budget = 4;
  view.delta = 1e-5;
  ApplyEngineView(view, &s);
  EXPECT_EQ(s.state, RunState::kRunning);
  EXPECT_EQ(s.phase, "ShareKeys");
  EXPECT_EQ(s.clients_selected, 3);
  EXPECT_EQ(s.clients_registered, 12u);
  EXPECT_EQ(s.clients_live, 10u);
  EXPECT_EQ(s.rounds_completed, 1u);
  EXPECT_TRUE(s.dp);
  EXPECT_DOUBLE_EQ(s.epsilon_spent, 1.25);
  EXPECT_DOUBLE_EQ(s.epsilon_budget, 4);
}

TEST_F(RunStatusTrackerTest, TheEngineViewDropsAPhaseOfAnotherAttempt) {
  tracker_.OnRoundStarted(2, 1, {"a", "b", "c"});
  tracker_.OnPhaseStarted(2, 1, "ShareKeys");
  // The engine has moved on to attempt 2; its hooks have not arrived yet.
  RunStatus s = tracker_.Snapshot();
  ApplyEngineView(View(RoundEngine::Phase::kTraining, 2, 2), &s);
  EXPECT_EQ(s.attempt, 2);
  EXPECT_EQ(s.phase, "");
  EXPECT_EQ(s.clients_selected, 0);
  // Waiting: no phase whatever the hooks said.
  s = tracker_.Snapshot();
  ApplyEngineView(View(RoundEngine::Phase::kWaitingForClients, 2, 1), &s);
  EXPECT_EQ(s.state, RunState::kWaitingForClients);
  EXPECT_EQ(s.phase, "");
}

TEST_F(RunStatusTrackerTest, TheEngineViewOfAnEndedRun) {
  RunStatus s = tracker_.Snapshot();
  RoundEngine::StatusView view = View(RoundEngine::Phase::kFinished, 4, 0);
  view.finished_reason = "the privacy budget is spent";
  ApplyEngineView(view, &s);
  EXPECT_EQ(s.state, RunState::kFinished);
  EXPECT_EQ(s.round, 3u);
  EXPECT_EQ(s.rounds_completed, 3u);
  EXPECT_EQ(s.finished_reason, "the privacy budget is spent");

  s = tracker_.Snapshot();
  view = View(RoundEngine::Phase::kFailed, 2, 3);
  view.failure = "round 2: too few updates";
  ApplyEngineView(view, &s);
  EXPECT_EQ(s.state, RunState::kFailed);
  EXPECT_EQ(s.round, 2u);
  EXPECT_EQ(s.failure, "round 2: too few updates");
}

TEST(RunStateNameTest, NamesEveryState) {
  EXPECT_STREQ(RunStateName(RunState::kWaitingForClients),
               "waiting_for_clients");
  EXPECT_STREQ(RunStateName(RunState::kRunning), "running");
  EXPECT_STREQ(RunStateName(RunState::kFinished), "finished");
  EXPECT_STREQ(RunStateName(RunState::kFailed), "failed");
}

}  // namespace
}  // namespace fedlearn
