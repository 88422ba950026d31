// The client protocol state machine with a fake transport and trainer: no
// network, no LibTorch.
#include "client/client_session.h"

#include <chrono>
#include <deque>

#include "client/client_daemon.h"
#include "common/secagg/encoding_proto.h"
#include "common/tls/cert_authority.h"
#include "common/util/clock.h"
#include "common/util/status_class.h"
#include "common/wire/proto_conversion.h"
#include "gtest/gtest.h"
#include "tests/client/fake_session_parts.h"
#include "tests/client/secure_session_parts.h"

namespace fedlearn {
namespace {

class ClientSessionTest : public ::testing::Test {
 protected:
  FakeTransport transport_;
  FakeTrainer trainer_{8};
  std::atomic<bool> cancel_{false};
  ClientSession session_{&transport_, &trainer_, nullptr, {}};
};

TEST_F(ClientSessionTest, RegistersFirstThenTrainsAndPushesTheDelta) {
  EXPECT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kPrepared);
  EXPECT_EQ(transport_.registers, 0);  // not before the contract is checked
  EXPECT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kRegistered);
  EXPECT_EQ(transport_.registered_examples, 42u);
  EXPECT_EQ(transport_.registered_digest, "digest-1");
  EXPECT_EQ(session_.client_id(), "site-a");
  transport_.fetch_replies.push_back(TaskReply(8, 3));
  ClientSession::StepResult received = session_.Step(cancel_);
  ASSERT_EQ(received.kind, ClientSession::StepKind::kTaskReceived)
      << received.status;
  EXPECT_TRUE(session_.NextStepComputes());  // training is its own step
  EXPECT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kUploading);
  EXPECT_EQ(trainer_.calls, 1);
  EXPECT_TRUE(transport_.pushed.empty());  // the push is the next step
  EXPECT_FALSE(session_.NextStepComputes());
  ClientSession::StepResult r = session_.Step(cancel_);
  ASSERT_EQ(r.kind, ClientSession::StepKind::kTrained) << r.status;
  EXPECT_EQ(r.round, 3u);
  ASSERT_EQ(transport_.pushed.size(), 1u);
  EXPECT_EQ(transport_.pushed[0].round, 3u);
  EXPECT_EQ(transport_.pushed[0].delta[7], 0.5f);
}

TEST_F(ClientSessionTest, UpdateRefusedByABusyCoordinatorIsPushedAgain) {
  session_.Step(cancel_);  // prepared
  session_.Step(cancel_);  // registered
  transport_.fetch_replies.push_back(TaskReply(8, 3));
  ASSERT_EQ(session_.Step(cancel_).kind,
            ClientSession::StepKind::kTaskReceived);
  ASSERT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kUploading);
  transport_.push_status =
      absl::ResourceExhaustedError("all 4 upload buffers are busy");
  ClientSession::StepResult busy = session_.Step(cancel_);
  EXPECT_EQ(busy.kind, ClientSession::StepKind::kFailed);
  EXPECT_TRUE(absl::IsResourceExhausted(busy.status)) << busy.status;
  transport_.push_status = absl::OkStatus();
  ClientSession::StepResult r = session_.Step(cancel_);
  ASSERT_EQ(r.kind, ClientSession::StepKind::kTrained) << r.status;
  EXPECT_EQ(trainer_.calls, 1);  // trained once, pushed twice
  ASSERT_EQ(transport_.pushed.size(), 2u);
  EXPECT_EQ(transport_.pushed[1].round, 3u);
  EXPECT_EQ(transport_.pushed[1].delta[7], 0.5f);
}

TEST_F(ClientSessionTest, RefusesATaskWhoseSpecDiffersBeforeTraining) {
  Join(session_, cancel_);
  transport_.fetch_replies.push_back(TaskReply(9, 1));
  ClientSession::StepResult r = session_.Step(cancel_);
  EXPECT_EQ(r.kind, ClientSession::StepKind::kFailed);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(r.status.message()).find("does not match"),
            std::string::npos);
  // Which side is which: the trainer's spec is this client's.
  EXPECT_NE(std::string(r.status.message())
                .find("tensor #0: this client prepared parameter w[8], the "
                      "coordinator runs parameter w[9]"),
            std::string::npos)
      << r.status;
  EXPECT_EQ(trainer_.calls, 0);
  EXPECT_TRUE(transport_.pushed.empty());
}

TEST_F(ClientSessionTest, CancelledTrainingNeverUploads) {
  Join(session_, cancel_);
  trainer_.cancel_during_training = true;
  transport_.fetch_replies.push_back(TaskReply(8, 1));
  ASSERT_EQ(session_.Step(cancel_).kind,
            ClientSession::StepKind::kTaskReceived);
  ClientSession::StepResult r = session_.Step(cancel_);
  EXPECT_EQ(r.kind, ClientSession::StepKind::kFailed);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(transport_.pushed.empty());
}

TEST_F(ClientSessionTest, StopRequestedBeforeAStepDoesNothing) {
  cancel_ = true;
  EXPECT_EQ(session_.Step(cancel_).status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(transport_.registers, 0);
}

TEST_F(ClientSessionTest, ForgottenByARestartedCoordinatorRegistersAgain) {
  Join(session_, cancel_);
  transport_.fetch_replies.push_back(absl::NotFoundError("unknown client"));
  EXPECT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kFailed);
  EXPECT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kRegistered);
  EXPECT_EQ(transport_.registers, 2);
}

TEST_F(ClientSessionTest, IdleAndFinishedRepliesAreReported) {
  Join(session_, cancel_);
  FetchReply idle;
  idle.retry_after_ms = 250;
  transport_.fetch_replies.push_back(std::move(idle));
  FetchReply finished;
  finished.run_finished = true;
  transport_.fetch_replies.push_back(std::move(finished));
  ClientSession::StepResult r = session_.Step(cancel_);
  EXPECT_EQ(r.kind, ClientSession::StepKind::kIdle);
  EXPECT_EQ(r.retry_after_ms, 250u);
  EXPECT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kRunFinished);
}

TEST_F(ClientSessionTest, ExpiredDeadlineSkipsTraining) {
  Join(session_, cancel_);
  FetchReply reply = TaskReply(8, 1);
  reply.task->deadline_unix_ms = 1;  // 1970
  transport_.fetch_replies.push_back(std::move(reply));
  EXPECT_EQ(session_.Step(cancel_).status.code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(trainer_.calls, 0);
}

TEST(ClientPrivacyTest, SiteRequiringDpRefusesAPlainTaskBeforeTraining) {
  FakeTransport transport;
  FakeTrainer trainer{8};
  std::atomic<bool> cancel{false};
  ClientSession::Options options;
  options.privacy.level = PrivacyRequirement::Level::kDp;
  ClientSession session(&transport, &trainer, nullptr, options);
  Join(session, cancel);
  transport.fetch_replies.push_back(TaskReply(8, 1));
  ClientSession::StepResult r = session.Step(cancel);
  EXPECT_EQ(r.kind, ClientSession::StepKind::kFailed);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(r.status.message()).find("requires DP"),
            std::string::npos);
  EXPECT_EQ(trainer.calls, 0);
  EXPECT_TRUE(transport.pushed.empty());
  // The run's privacy settings do not change: the refusal is permanent and
  // the coordinator is told why, so it stops selecting this site.
  EXPECT_TRUE(IsPermanent(r.status));
  ASSERT_EQ(transport.leaves.size(), 1u);
  EXPECT_TRUE(transport.leaves[0].permanent);
  EXPECT_NE(transport.leaves[0].reason.find("requires DP"), std::string::npos);
}

TEST_F(ClientSessionTest, SiteWhoseModelDiffersFromTheContractLeavesAndStops) {
  *transport_.contract.contract.mutable_model()->mutable_spec() =
      ToProto(MakeSpec(9));
  transport_.contract.contract.mutable_model()->set_architecture("mlp");
  ClientSession::StepResult r = session_.Step(cancel_);
  EXPECT_EQ(r.kind, ClientSession::StepKind::kFailed);
  EXPECT_TRUE(IsPermanent(r.status)) << r.status;
  EXPECT_NE(std::string(r.status.message()).find("does not match the run"),
            std::string::npos)
      << r.status;
  EXPECT_NE(std::string(r.status.message())
                .find("tensor #0: this site built parameter w[8], the run's "
                      "contract declares parameter w[9]"),
            std::string::npos)
      << r.status;
  EXPECT_EQ(transport_.registers, 0);
  ASSERT_EQ(transport_.leaves.size(), 1u);
  EXPECT_TRUE(transport_.leaves[0].permanent);
}

TEST_F(ClientSessionTest, SiteMatchingTheContractSpecRegisters) {
  *transport_.contract.contract.mutable_model()->mutable_spec() =
      ToProto(MakeSpec(8));
  Join(session_, cancel_);
  EXPECT_TRUE(transport_.leaves.empty());
}

TEST_F(ClientSessionTest, TaskOfAnotherContractSendsTheSessionBackToPrepare) {
  Join(session_, cancel_);
  FetchReply reply = TaskReply(8, 1);
  reply.task->contract_digest = "digest-2";
  transport_.fetch_replies.push_back(std::move(reply));
  ClientSession::StepResult r = session_.Step(cancel_);
  EXPECT_EQ(r.kind, ClientSession::StepKind::kFailed);
  EXPECT_FALSE(IsPermanent(r.status));
  EXPECT_NE(std::string(r.status.message())
                .find("this client prepared contract digest-1, the "
                      "coordinator runs contract digest-2"),
            std::string::npos)
      << r.status;
  EXPECT_EQ(trainer_.calls, 0);
  EXPECT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kPrepared);
  EXPECT_EQ(transport_.contract_fetches, 2);
}

TEST_F(ClientSessionTest, RegistrationRefusedForItsContractFetchesItAgain) {
  EXPECT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kPrepared);
  transport_.register_status =
      absl::FailedPreconditionError("client prepared for another contract");
  EXPECT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kFailed);
  transport_.register_status = absl::OkStatus();
  EXPECT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kPrepared);
  EXPECT_EQ(transport_.contract_fetches, 2);
}

TEST_F(ClientSessionTest, FailedRunIsReportedWithTheCoordinatorsReason) {
  Join(session_, cancel_);
  FetchReply failed;
  failed.run_finished = true;
  failed.run_failed = true;
  failed.reason = "round 3 attempt 3: 0 accepted update(s)";
  transport_.fetch_replies.push_back(std::move(failed));
  ClientSession::StepResult r = session_.Step(cancel_);
  EXPECT_EQ(r.kind, ClientSession::StepKind::kRunFinished);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(std::string(r.status.message()).find("round 3 attempt 3"),
            std::string::npos);
}

TEST_F(ClientSessionTest, LeavingTellsTheCoordinatorOnceRegistered) {
  session_.LeaveRun("shutting down");
  EXPECT_TRUE(transport_.leaves.empty());  // never registered
  Join(session_, cancel_);
  session_.LeaveRun("shutting down (signal 15)");
  ASSERT_EQ(transport_.leaves.size(), 1u);
  EXPECT_FALSE(transport_.leaves[0].permanent);
  EXPECT_EQ(transport_.leaves[0].reason, "shutting down (signal 15)");
}

TEST(ClientPrivacyTest, DistributedRequirementChecksModeSecAggAndNoise) {
  ReceivedTask task = *TaskReply(8, 1).task;
  PrivacyRequirement need{PrivacyRequirement::Level::kDistributedDp, 0.8};
  task.dp = v1::DpTaskConfig();
  task.dp->set_mode(v1::DpTaskConfig::CENTRAL);
  task.dp->set_clip_norm(1.0);
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckPrivacyRequirement(task, need)));
  PrivacyRequirement any{PrivacyRequirement::Level::kDp, 0};
  EXPECT_TRUE(CheckPrivacyRequirement(task, any).ok());  // central is DP
  task.dp->set_mode(v1::DpTaskConfig::DISTRIBUTED);
  task.dp->set_noise_stddev(0.9);
  // Distributed but without secure aggregation: the noise would not hide
  // the update itself.
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckPrivacyRequirement(task, need)));
  task.secagg = v1::SecAggConfig();
  EXPECT_TRUE(CheckPrivacyRequirement(task, need).ok());  // z = 0.9 >= 0.8
  task.dp->set_noise_stddev(0.7);
  absl::Status low = CheckPrivacyRequirement(task, need);
  EXPECT_TRUE(absl::IsFailedPrecondition(low));
  EXPECT_NE(std::string(low.message()).find("below this client's minimum"),
            std::string::npos);
  EXPECT_TRUE(CheckPrivacyRequirement(task, PrivacyRequirement{}).ok());
}

// A secure round's steps against a coordinator that has nothing new: each
// step makes one exchange and returns at once with the coordinator's delay.
class SecureSessionTest : public ::testing::Test {
 protected:
  static constexpr int64_t kDimension = 8;

  void SetUp() override {
    ASSERT_TRUE(identities_.status().ok()) << identities_.status();
    transport_.client_id = "client-001";
    options_.identity = identities_.Tls("client-001");
    // 3 s on the fake clock: UploadPastSecaggTimeoutIsAbandoned moves past it.
    options_.secagg_timeout = std::chrono::seconds(3);
    options_.clock = &clock_;
    session_ = std::make_unique<ClientSession>(&transport_, &trainer_, nullptr,
                                               options_);
  }

  FetchReply SecureTask() { return SecureTaskReply(kDimension, 1); }
  // Joins, receives the secure task and trains it.
  void TrainSecureTask() {
    Join(*session_, cancel_);
    transport_.fetch_replies.push_back(SecureTask());
    ASSERT_EQ(session_->Step(cancel_).kind,
              ClientSession::StepKind::kTaskReceived);
    ClientSession::StepResult trained = session_->Step(cancel_);
    ASSERT_EQ(trained.kind, ClientSession::StepKind::kUploading)
        << trained.status;
    EXPECT_EQ(transport_.exchanges, 0);  // training threads do no RPCs
  }
  // One step, which must make at most one exchange: a step that waited for
  // the coordinator inside would poll the fake (which answers at once, with
  // no progress) again and again. The session has no sleeps of its own,
  // and its clock is fake, so counting exchanges is the whole check; no
  // wall-clock bound is needed.
  ClientSession::StepResult OneExchangeStep() {
    const int before = transport_.exchanges;
    ClientSession::StepResult r = session_->Step(cancel_);
    EXPECT_LE(transport_.exchanges - before, 1);
    return r;
  }

  ThreeClientIdentities identities_;
  FakeTransport transport_;
  FakeTrainer trainer_{kDimension};
  FakeClock clock_;
  std::atomic<bool> cancel_{false};
  ClientSession::Options options_;
  std::unique_ptr<ClientSession> session_;
};

TEST_F(SecureSessionTest,
       SecureRoundStepsReturnAtOnceWhileTheCoordinatorWaits) {
  TrainSecureTask();
  ClientSession::StepResult sent = OneExchangeStep();
  EXPECT_EQ(sent.kind, ClientSession::StepKind::kIdle) << sent.status;
  // A delivered message: the next phase is worth a (long) poll at once.
  EXPECT_TRUE(sent.waited);
  EXPECT_EQ(sent.retry_after_ms, 0u);
  EXPECT_FALSE(session_->NextStepComputes());
  ASSERT_EQ(transport_.secagg_messages.size(), 1u);
  EXPECT_TRUE(transport_.secagg_messages[0].has_advertise_keys());
  ClientSession::StepResult polled = OneExchangeStep();
  EXPECT_EQ(polled.kind, ClientSession::StepKind::kIdle) << polled.status;
  EXPECT_FALSE(polled.waited);  // an unheld poll: the coordinator's delay
  EXPECT_EQ(polled.retry_after_ms, 250u);
  EXPECT_EQ(transport_.exchanges, 2);  // one exchange per step
  EXPECT_EQ(transport_.secagg_messages.size(), 1u);
  EXPECT_TRUE(transport_.pushed.empty());  // never the plain update
}

TEST_F(SecureSessionTest, FailedExchangeIsRetriedByTheNextStepNotInside) {
  TrainSecureTask();
  transport_.secagg_replies.push_back(absl::UnavailableError("restarting"));
  ClientSession::StepResult failed = OneExchangeStep();
  EXPECT_EQ(failed.kind, ClientSession::StepKind::kFailed);
  EXPECT_TRUE(absl::IsUnavailable(failed.status)) << failed.status;
  EXPECT_EQ(transport_.exchanges, 1);  // the daemon's backoff decides when
  ClientSession::StepResult resent = OneExchangeStep();
  EXPECT_EQ(resent.kind, ClientSession::StepKind::kIdle) << resent.status;
  ASSERT_EQ(transport_.secagg_messages.size(), 1u);
  EXPECT_TRUE(transport_.secagg_messages[0].has_advertise_keys());
}

TEST_F(SecureSessionTest, EndedAggregationSendsTheSessionBackToFetching) {
  TrainSecureTask();
  SecAggExchangeReply ended;
  ended.aborted = true;
  ended.reason = "round 1 ended";
  transport_.secagg_replies.push_back(ended);
  EXPECT_TRUE(absl::IsAborted(OneExchangeStep().status));
  FetchReply idle;
  idle.retry_after_ms = 300;
  transport_.fetch_replies.push_back(std::move(idle));
  ClientSession::StepResult next = OneExchangeStep();
  EXPECT_EQ(next.kind, ClientSession::StepKind::kIdle);
  EXPECT_EQ(next.retry_after_ms, 300u);  // the fetch's, not an exchange's
  EXPECT_EQ(transport_.exchanges, 1);
}

TEST_F(SecureSessionTest, UploadPastSecaggTimeoutIsAbandoned) {
  TrainSecureTask();
  EXPECT_EQ(OneExchangeStep().kind, ClientSession::StepKind::kIdle);
  clock_.Advance(std::chrono::seconds(4));
  ClientSession::StepResult late = OneExchangeStep();
  EXPECT_TRUE(absl::IsDeadlineExceeded(late.status)) << late.status;
  EXPECT_EQ(transport_.exchanges, 1);
  transport_.fetch_replies.push_back(FetchReply{});
  EXPECT_EQ(OneExchangeStep().kind,
            ClientSession::StepKind::kIdle);  // fetching
}

TEST_F(SecureSessionTest, StopDuringASecureUploadSendsNothingMore) {
  TrainSecureTask();
  EXPECT_EQ(OneExchangeStep().kind, ClientSession::StepKind::kIdle);
  cancel_ = true;
  EXPECT_TRUE(absl::IsCancelled(OneExchangeStep().status));
  EXPECT_EQ(transport_.exchanges, 1);
}

TEST(BackoffPolicyTest, DelayGrowsExponentiallyWithJitterAndIsCapped) {
  BackoffPolicy policy;
  policy.initial = std::chrono::milliseconds(100);
  policy.max = std::chrono::milliseconds(5000);
  std::mt19937_64 rng(1);
  for (int failures = 1; failures <= 12; ++failures) {
    const int64_t exp = std::min<int64_t>(5000, int64_t{100} << (failures - 1));
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 200; ++i) {
      const int64_t d = policy.Delay(failures, rng).count();
      ASSERT_GE(d, exp - exp / 2);
      ASSERT_LE(d, exp);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    // Jitter actually spreads the delays (no fleet-wide lockstep).
    EXPECT_GT(hi - lo, exp / 4) << "failures=" << failures;
  }
}

}  // namespace
}  // namespace fedlearn
