// client/client_metrics.h fed by a real ClientSession over the scripted fake
// transport (tests/client/fake_session_parts.h): exact values of the
// rendered Prometheus series after known sequences of steps.
#include "client/client_metrics.h"

#include <atomic>
#include <map>
#include <sstream>
#include <string>

#include "client/client_session.h"
#include "gtest/gtest.h"
#include "tests/client/fake_session_parts.h"

namespace fedlearn {
namespace {

using Kind = ClientSession::StepKind;

// Every sample line of a rendered registry: series (name{labels}) -> value.
std::map<std::string, double> Samples(const MetricsRegistry& registry) {
  std::map<std::string, double> out;
  std::istringstream in(registry.Render());
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

std::string Refused(const std::string& reason) {
  return "fedlearn_client_tasks_refused_total{reason=\"" + reason + "\"}";
}

class ClientMetricsTest : public ::testing::Test {
 protected:
  ClientSession::Options Observed() {
    ClientSession::Options options;
    options.observer = &metrics_;
    return options;
  }
  // Fetches round `round`'s task, trains it and pushes it.
  void RunRound(ClientSession& session, uint64_t round) {
    transport_.fetch_replies.push_back(TaskReply(8, round));
    ASSERT_EQ(session.Step(cancel_).kind, Kind::kTaskReceived);
    ASSERT_EQ(session.Step(cancel_).kind, Kind::kUploading);
    ClientSession::StepResult r = session.Step(cancel_);
    ASSERT_EQ(r.kind, Kind::kTrained) << r.status;
  }
  double Value(const std::string& series) {
    const std::map<std::string, double> samples = Samples(registry_);
    auto it = samples.find(series);
    EXPECT_NE(it, samples.end()) << series << " not rendered";
    return it == samples.end() ? -1 : it->second;
  }

  MetricsRegistry registry_;
  ClientMetrics metrics_{&registry_};
  FakeTransport transport_;
  FakeTrainer trainer_{8};
  std::atomic<bool> cancel_{false};
};

TEST_F(ClientMetricsTest, EverySeriesIsRenderedAtZeroFromTheStart) {
  for (const char* reason :
       {"privacy_floor", "contract_mismatch", "stale", "training_error",
        "coordinator_refused", "other"}) {
    EXPECT_EQ(Value(Refused(reason)), 0) << reason;
  }
  EXPECT_EQ(Value("fedlearn_client_tasks_completed_total"), 0);
  EXPECT_EQ(Value("fedlearn_client_training_duration_seconds_count"), 0);
  EXPECT_EQ(Value("fedlearn_client_state{state=\"preparing\"}"), 1);
  EXPECT_EQ(Value("fedlearn_client_state{state=\"idle\"}"), 0);
  EXPECT_FALSE(metrics_.registered());
}

TEST_F(ClientMetricsTest, CompletedRoundsCountTasksAndTrainingTime) {
  trainer_.seconds = 1.5;
  ClientSession session(&transport_, &trainer_, nullptr, Observed());
  Join(session, cancel_);
  EXPECT_TRUE(metrics_.registered());
  RunRound(session, 1);
  RunRound(session, 2);
  EXPECT_EQ(Value("fedlearn_client_tasks_completed_total"), 2);
  EXPECT_EQ(Value("fedlearn_client_training_seconds_total"), 3);
  EXPECT_EQ(Value("fedlearn_client_training_duration_seconds_count"), 2);
  EXPECT_EQ(Value("fedlearn_client_training_duration_seconds_sum"), 3);
  EXPECT_EQ(Value("fedlearn_client_secagg_rounds_total"), 0);  // plain
  EXPECT_EQ(Value("fedlearn_client_registrations_total"), 1);
  EXPECT_EQ(Value("fedlearn_client_state{state=\"idle\"}"), 1);
  EXPECT_EQ(Value("fedlearn_client_state{state=\"preparing\"}"), 0);
  EXPECT_EQ(Value(Refused("other")), 0);
}

TEST_F(ClientMetricsTest, StateFollowsTheSteps) {
  ClientSession session(&transport_, &trainer_, nullptr, Observed());
  Join(session, cancel_);
  transport_.fetch_replies.push_back(TaskReply(8, 1));
  ASSERT_EQ(session.Step(cancel_).kind, Kind::kTaskReceived);
  EXPECT_EQ(Value("fedlearn_client_state{state=\"training\"}"), 1);
  ASSERT_EQ(session.Step(cancel_).kind, Kind::kUploading);
  EXPECT_EQ(Value("fedlearn_client_state{state=\"uploading\"}"), 1);
  EXPECT_EQ(Value("fedlearn_client_state{state=\"training\"}"), 0);
}

TEST_F(ClientMetricsTest, RefusalsBeforeTrainingCountByReason) {
  ClientSession session(&transport_, &trainer_, nullptr, Observed());
  Join(session, cancel_);
  transport_.fetch_replies.push_back(TaskReply(9, 1));  // another spec
  EXPECT_EQ(session.Step(cancel_).kind, Kind::kFailed);
  FetchReply late = TaskReply(8, 2);
  late.task->deadline_unix_ms = 1;  // 1970
  transport_.fetch_replies.push_back(std::move(late));
  EXPECT_EQ(session.Step(cancel_).kind, Kind::kFailed);
  FetchReply other_contract = TaskReply(8, 3);
  other_contract.task->contract_digest = "digest-2";
  transport_.fetch_replies.push_back(std::move(other_contract));
  EXPECT_EQ(session.Step(cancel_).kind, Kind::kFailed);
  EXPECT_EQ(Value(Refused("contract_mismatch")), 2);
  EXPECT_EQ(Value(Refused("stale")), 1);
  EXPECT_EQ(Value(Refused("training_error")), 0);
  EXPECT_EQ(Value("fedlearn_client_tasks_completed_total"), 0);
  EXPECT_EQ(trainer_.calls, 0);
  EXPECT_FALSE(metrics_.registered());  // back to preparing
}

TEST_F(ClientMetricsTest, TrainingErrorsAndLostUploadsCountByReason) {
  ClientSession session(&transport_, &trainer_, nullptr, Observed());
  Join(session, cancel_);
  trainer_.train_status = absl::InternalError("NaN loss");
  transport_.fetch_replies.push_back(TaskReply(8, 1));
  ASSERT_EQ(session.Step(cancel_).kind, Kind::kTaskReceived);
  EXPECT_EQ(session.Step(cancel_).kind, Kind::kFailed);
  trainer_.train_status = absl::OkStatus();
  // Refused by the coordinator; then unreachable; then busy (kept, pushed
  // again and delivered: not a refusal).
  for (absl::Status push : {absl::FailedPreconditionError("round closed"),
                            absl::UnavailableError("connection reset"),
                            absl::ResourceExhaustedError("buffers busy")}) {
    transport_.push_status = push;
    transport_.fetch_replies.push_back(TaskReply(8, 2));
    ASSERT_EQ(session.Step(cancel_).kind, Kind::kTaskReceived);
    ASSERT_EQ(session.Step(cancel_).kind, Kind::kUploading);
    EXPECT_EQ(session.Step(cancel_).kind, Kind::kFailed);
  }
  transport_.push_status = absl::OkStatus();
  EXPECT_EQ(session.Step(cancel_).kind, Kind::kTrained);
  EXPECT_EQ(Value(Refused("training_error")), 1);
  EXPECT_EQ(Value(Refused("coordinator_refused")), 1);
  EXPECT_EQ(Value(Refused("other")), 1);
  EXPECT_EQ(Value("fedlearn_client_tasks_completed_total"), 1);
}

TEST_F(ClientMetricsTest, PrivacyFloorRefusalIsCounted) {
  ClientSession::Options options = Observed();
  options.privacy.level = PrivacyRequirement::Level::kDp;
  ClientSession session(&transport_, &trainer_, nullptr, options);
  Join(session, cancel_);
  transport_.fetch_replies.push_back(TaskReply(8, 1));  // no DP
  EXPECT_EQ(session.Step(cancel_).kind, Kind::kFailed);
  EXPECT_EQ(Value(Refused("privacy_floor")), 1);
  EXPECT_FALSE(metrics_.registered());  // it left the run
}

TEST_F(ClientMetricsTest, CancelledTrainingIsNoRefusal) {
  ClientSession session(&transport_, &trainer_, nullptr, Observed());
  Join(session, cancel_);
  trainer_.cancel_during_training = true;
  transport_.fetch_replies.push_back(TaskReply(8, 1));
  ASSERT_EQ(session.Step(cancel_).kind, Kind::kTaskReceived);
  EXPECT_EQ(session.Step(cancel_).kind, Kind::kFailed);
  for (const char* reason : {"training_error", "other"}) {
    EXPECT_EQ(Value(Refused(reason)), 0) << reason;
  }
}

TEST_F(ClientMetricsTest, ReRegistrationAfterACoordinatorRestartIsCounted) {
  ClientSession session(&transport_, &trainer_, nullptr, Observed());
  Join(session, cancel_);
  transport_.fetch_replies.push_back(absl::NotFoundError("unknown client"));
  EXPECT_EQ(session.Step(cancel_).kind, Kind::kFailed);
  EXPECT_FALSE(metrics_.registered());
  EXPECT_EQ(session.Step(cancel_).kind, Kind::kRegistered);
  EXPECT_TRUE(metrics_.registered());
  EXPECT_EQ(Value("fedlearn_client_registrations_total"), 2);
}

TEST_F(ClientMetricsTest, TrafficAddsUpSentAndReceivedBytes) {
  metrics_.OnTraffic(100, 7);
  metrics_.OnTraffic(0, 4096);
  EXPECT_EQ(Value("fedlearn_client_sent_bytes_total"), 100);
  EXPECT_EQ(Value("fedlearn_client_received_bytes_total"), 4103);
}

}  // namespace
}  // namespace fedlearn
