#include "server/metrics/coordinator_metrics.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

CoordinatorMetrics::Options RunOptions(const std::string& dp_mode,
                                       const Clock* clock) {
  CoordinatorMetrics::Options options;
  options.run_id = "run-7";
  options.num_rounds = 3;
  options.secure_aggregation = true;
  options.dp_mode = dp_mode;
  options.clock = clock;
  return options;
}

RoundSummary Summary(uint64_t round) {
  RoundSummary s;
  s.run_id = "run-7";
  s.round = round;
  s.model_version = round;
  s.selected = 5;
  s.participants = 4;
  s.dropped = {"client-secret-id"};
  s.seconds = 3.0;
  s.secure = true;
  s.eval = EvalMetrics{0.75, 0.5, 100};
  return s;
}

// The value of the series `line_start` ("name{labels}") in `text`.
std::string ValueOf(const std::string& text, const std::string& line_start) {
  const size_t at = text.find("\n" + line_start + " ");
  if (at == std::string::npos) return "<missing>";
  const size_t begin = at + line_start.size() + 2;
  return text.substr(begin, text.find('\n', begin) - begin);
}

TEST(CoordinatorMetricsTest, RoundCompletionSetsCountersAndGauges) {
  FakeClock clock;
  CoordinatorMetrics metrics(RunOptions("off", &clock));
  std::string text = metrics.registry().Render();
  EXPECT_EQ(ValueOf(text,
                    "fedlearn_run_info{run_id=\"run-7\",aggregation="
                    "\"secure\",dp=\"off\"}"),
            "1");
  EXPECT_EQ(ValueOf(text, "fedlearn_rounds_configured"), "3");
  EXPECT_EQ(ValueOf(text, "fedlearn_rounds_completed_total"), "0");
  EXPECT_EQ(ValueOf(text, "fedlearn_test_accuracy"), "NaN");
  EXPECT_THAT(text, Not(HasSubstr("fedlearn_dp_")));  // no DP: not shown

  metrics.OnRoundStarted(1, 1, {"a", "b", "c", "d", "e"});
  ASSERT_TRUE(metrics.OnRoundCompleted(Summary(1), FlatModel{}).ok());
  text = metrics.registry().Render();
  EXPECT_EQ(ValueOf(text, "fedlearn_rounds_completed_total"), "1");
  EXPECT_EQ(ValueOf(text, "fedlearn_round_attempts_started_total"), "1");
  EXPECT_EQ(ValueOf(text, "fedlearn_current_round"), "1");
  EXPECT_EQ(ValueOf(text, "fedlearn_model_version"), "1");
  EXPECT_EQ(ValueOf(text, "fedlearn_clients_selected"), "5");
  EXPECT_EQ(ValueOf(text, "fedlearn_clients_participating"), "4");
  EXPECT_EQ(ValueOf(text, "fedlearn_clients_dropped"), "1");
  EXPECT_EQ(ValueOf(text, "fedlearn_client_dropouts_total"), "1");
  EXPECT_EQ(ValueOf(text, "fedlearn_updates_aggregated_total"), "4");
  EXPECT_EQ(ValueOf(text, "fedlearn_test_accuracy"), "0.75");
  EXPECT_EQ(ValueOf(text, "fedlearn_test_loss"), "0.5");
  EXPECT_EQ(ValueOf(text, "fedlearn_round_duration_seconds_sum"), "3");
  EXPECT_EQ(ValueOf(text, "fedlearn_round_duration_seconds_bucket{le=\"4\"}"),
            "1");
  EXPECT_EQ(ValueOf(text, "fedlearn_round_duration_seconds_bucket{le=\"2\"}"),
            "0");
  // No client id reaches a metric.
  EXPECT_THAT(text, Not(HasSubstr("client-secret-id")));
  EXPECT_THAT(text, Not(HasSubstr("\"a\"")));
}

TEST(CoordinatorMetricsTest, PhaseDurationsComeFromTheClockBetweenPhases) {
  FakeClock clock;
  CoordinatorMetrics metrics(RunOptions("off", &clock));
  metrics.OnRoundStarted(1, 1, {"a", "b", "c"});
  metrics.OnPhaseStarted(1, 1, "Training");
  clock.Advance(std::chrono::seconds(2));
  metrics.OnPhaseStarted(1, 1, "AdvertiseKeys");
  clock.Advance(std::chrono::milliseconds(500));
  metrics.OnPhaseStarted(1, 1, "Releasing");
  clock.Advance(std::chrono::milliseconds(250));
  ASSERT_TRUE(metrics.OnRoundCompleted(Summary(1), FlatModel{}).ok());
  // Between rounds nothing is timed.
  clock.Advance(std::chrono::seconds(100));
  metrics.OnPhaseStarted(2, 1, "Training");
  clock.Advance(std::chrono::seconds(1));
  metrics.OnRoundRetried(2, 1, "too few");
  const std::string text = metrics.registry().Render();
  const std::string name = "fedlearn_round_phase_duration_seconds";
  EXPECT_EQ(ValueOf(text, name + "_sum{phase=\"Training\"}"), "3");
  EXPECT_EQ(ValueOf(text, name + "_count{phase=\"Training\"}"), "2");
  EXPECT_EQ(ValueOf(text, name + "_sum{phase=\"AdvertiseKeys\"}"), "0.5");
  EXPECT_EQ(ValueOf(text, name + "_sum{phase=\"Releasing\"}"), "0.25");
  EXPECT_EQ(ValueOf(text, "fedlearn_round_attempts_failed_total"), "1");
}

TEST(CoordinatorMetricsTest, FailedRunCountsTheAttemptThatEndedIt) {
  CoordinatorMetrics metrics(RunOptions("off", nullptr));
  metrics.OnRoundStarted(1, 1, {"a", "b", "c"});
  metrics.OnRunEnded(absl::DeadlineExceededError("giving up"));
  const std::string text = metrics.registry().Render();
  EXPECT_EQ(ValueOf(text, "fedlearn_run_failed"), "1");
  EXPECT_EQ(ValueOf(text, "fedlearn_run_finished"), "0");
  EXPECT_EQ(ValueOf(text, "fedlearn_round_attempts_failed_total"), "1");
}

TEST(CoordinatorMetricsTest, StoppedRunIsNeitherFinishedNorFailed) {
  CoordinatorMetrics metrics(RunOptions("off", nullptr));
  metrics.OnRoundStarted(1, 1, {"a", "b", "c"});
  metrics.OnRunEnded(absl::CancelledError("stopped"));
  const std::string text = metrics.registry().Render();
  EXPECT_EQ(ValueOf(text, "fedlearn_run_failed"), "0");
  EXPECT_EQ(ValueOf(text, "fedlearn_run_finished"), "0");
  EXPECT_EQ(ValueOf(text, "fedlearn_round_attempts_failed_total"), "0");
}

TEST(CoordinatorMetricsTest, DpRunShowsEpsilonBudgetAndClipNorm) {
  CoordinatorMetrics metrics(RunOptions("central", nullptr));
  RoundEngine::StatusView status;
  status.registered = 7;
  status.live = 6;
  status.dp = true;
  status.epsilon_budget = 8;
  status.delta = 1e-5;
  metrics.ObserveStatus(status);
  RoundSummary s = Summary(1);
  s.dp.emplace();
  s.dp->epsilon = 1.25;
  s.dp->delta = 1e-5;
  s.dp->clip_norm = 0.5;
  s.dp->state.clip_norm = 0.625;  // adaptive: the next round's
  s.dp->noise_multiplier = 1.1;
  ASSERT_TRUE(metrics.OnRoundCompleted(s, FlatModel{}).ok());
  const std::string text = metrics.registry().Render();
  EXPECT_EQ(ValueOf(text, "fedlearn_clients_registered"), "7");
  EXPECT_EQ(ValueOf(text, "fedlearn_clients_live"), "6");
  EXPECT_EQ(ValueOf(text, "fedlearn_dp_epsilon_spent"), "1.25");
  EXPECT_EQ(ValueOf(text, "fedlearn_dp_epsilon_budget"), "8");
  EXPECT_EQ(ValueOf(text, "fedlearn_dp_delta"), "1e-05");
  EXPECT_EQ(ValueOf(text, "fedlearn_dp_clip_norm"), "0.625");
  EXPECT_EQ(ValueOf(text, "fedlearn_dp_noise_multiplier"), "1.1");
  EXPECT_EQ(ValueOf(text, "fedlearn_train_loss"), "NaN");
}

TEST(CoordinatorMetricsTest, RejectionReasonsAndRpcLabelsAreBounded) {
  CoordinatorMetrics metrics(RunOptions("off", nullptr));
  const std::set<std::string> allowed = {
      "malformed",       "stale",      "not_selected", "duplicate",
      "unregistered",    "overloaded", "timeout",      "cancelled",
      "unauthenticated", "other"};
  for (int code = 1; code <= 16; ++code) {
    const absl::Status s(static_cast<absl::StatusCode>(code),
                         "client text \"evil\"\nclient-secret-id");
    EXPECT_TRUE(allowed.count(CoordinatorMetrics::RejectionReason(s))) << code;
    metrics.CountRejectedUpload(s);
  }
  metrics.CountRejectedUpload(absl::OkStatus());  // not a rejection
  metrics.CountReceived("PushResult", 100);
  metrics.CountReceived("PushResult", 28);
  metrics.CountSent("FetchTask", 4096);
  const std::string text = metrics.registry().Render();
  EXPECT_EQ(ValueOf(text,
                    "fedlearn_updates_rejected_total{reason="
                    "\"malformed\"}"),
            "3");
  EXPECT_EQ(ValueOf(text, "fedlearn_updates_rejected_total{reason=\"stale\"}"),
            "1");
  EXPECT_EQ(ValueOf(text,
                    "fedlearn_rpc_received_bytes_total{rpc="
                    "\"PushResult\"}"),
            "128");
  EXPECT_EQ(ValueOf(text, "fedlearn_rpc_sent_bytes_total{rpc=\"FetchTask\"}"),
            "4096");
  EXPECT_THAT(text, Not(HasSubstr("evil")));
  EXPECT_THAT(text, Not(HasSubstr("client-secret-id")));
}

}  // namespace
}  // namespace fedlearn
