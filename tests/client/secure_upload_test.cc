// The secure upload as a step-at-a-time state machine: three clients' uploads
// advanced against a real in-memory SecAggServer, no sockets and no sleeps.
#include "client/secure_upload.h"

#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "server/secagg/secagg_server.h"
#include "tests/server/secagg/secagg_harness.h"

namespace fedlearn {
namespace {

using testing::MakeConfig;
using testing::TestPki;

// One client's view of the coordinator: secure-aggregation calls go to an
// in-memory SecAggServer; a test may script the next exchange's outcome.
class ServerBackedTransport : public CoordinatorTransport {
 public:
  ServerBackedTransport(SecAggServer* server, std::string id)
      : server_(server), id_(std::move(id)) {}

  absl::StatusOr<SecAggExchangeReply> SecAggExchange(
      const std::string&, uint64_t,
      const v1::SecAggClientMessage* message) override {
    ++exchanges;
    if (!fail_next.ok()) {
      absl::Status s = fail_next;
      fail_next = absl::OkStatus();
      return s;
    }
    SecAggExchangeReply reply;
    if (abort_next) {
      reply.aborted = true;
      reply.reason = "round 7 aborted: too many dropouts";
      return reply;
    }
    if (message != nullptr) {
      ++messages;
      if (absl::Status s = server_->HandleMessage(id_, *message); !s.ok()) {
        return s;
      }
    }
    reply.message = server_->PendingMessageFor(id_);
    reply.retry_after_ms = 100;
    return reply;
  }
  absl::Status PushMaskedInput(const std::string&, uint64_t, uint64_t,
                               absl::Span<const uint32_t> masked,
                               int value_bytes,
                               absl::Span<const uint64_t> clear,
                               const std::string& session_id) override {
    ++masked_pushes;
    pushed_session_id = session_id;
    clear_eval_report.assign(clear.begin(), clear.end());
    if (!refuse_next_push.ok()) {
      absl::Status s = refuse_next_push;
      refuse_next_push = absl::OkStatus();
      return s;
    }
    if (value_bytes != 4) return absl::InvalidArgumentError("b = 32: 4 bytes");
    return server_->HandleMaskedInput(id_, masked);
  }

  absl::StatusOr<ReceivedContract> GetContract() override { return Unused(); }
  absl::StatusOr<RegisterReply> Register(uint64_t,
                                         const std::string&) override {
    return Unused();
  }
  absl::Status Leave(bool, const std::string&) override { return Unused(); }
  absl::StatusOr<FetchReply> FetchTask(const std::string&, uint64_t) override {
    return Unused();
  }
  absl::Status PushResult(const OutgoingUpdate&) override { return Unused(); }
  absl::StatusOr<bool> Heartbeat(const std::string&,
                                 std::string_view) override {
    return Unused();
  }
  void CancelInFlight() override {}

  int exchanges = 0;
  int messages = 0;  // delivered to the server
  int masked_pushes = 0;
  absl::Status fail_next = absl::OkStatus();
  absl::Status refuse_next_push = absl::OkStatus();  // PushMaskedInput only
  std::vector<uint64_t> clear_eval_report;           // of the last masked push
  std::string pushed_session_id;                     // likewise
  bool abort_next = false;

 private:
  static absl::Status Unused() {
    return absl::UnimplementedError("not used by the secure upload");
  }
  SecAggServer* server_;
  std::string id_;
};

class SecureUploadTest : public ::testing::Test {
 protected:
  static constexpr int kClients = 3;
  static constexpr uint64_t kLength = 6;
  const std::vector<uint64_t> kClearReport = {7, 8, 9};

  void SetUp() override {
    config_ = MakeConfig(rng_, kClients, 2, 2, 32, kLength);
    auto server = SecAggServer::Create(config_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    for (int i = 0; i < kClients; ++i) {
      std::vector<uint32_t> input(kLength);
      for (uint32_t& v : input) v = static_cast<uint32_t>(rng_());
      inputs_.push_back(input);
      ReceivedTask task;
      task.run_id = "run-1";
      task.round = config_.round();
      task.secagg = config_;
      // Client 0 also sends a per-site evaluation report in the clear.
      std::vector<uint64_t> clear;
      if (i == 0) clear = kClearReport;
      auto upload = SecureUpload::Start(task, std::move(input),
                                        TestPki::Get().Identity(i), deadline_,
                                        std::move(clear));
      ASSERT_TRUE(upload.ok()) << upload.status();
      uploads_.push_back(*std::move(upload));
      transports_.push_back(std::make_unique<ServerBackedTransport>(
          server_.get(), config_.cohort(i)));
    }
  }

  // Advances client i once; it must return without waiting.
  absl::StatusOr<SecureUpload::Progress> Advance(int i) {
    const auto start = std::chrono::steady_clock::now();
    auto progress = uploads_[i]->Advance(transports_[i].get(), now_);
    EXPECT_LT(std::chrono::steady_clock::now() - start,
              std::chrono::seconds(2));
    return progress;
  }

  std::mt19937_64 rng_{11};
  v1::SecAggConfig config_;
  std::unique_ptr<SecAggServer> server_;
  std::vector<std::vector<uint32_t>> inputs_;
  std::vector<std::unique_ptr<SecureUpload>> uploads_;
  std::vector<std::unique_ptr<ServerBackedTransport>> transports_;
  const TimePoint now_{};
  const TimePoint deadline_ = now_ + std::chrono::minutes(10);
};

TEST_F(SecureUploadTest, StepsNeverWaitAndTheServerGetsTheExactSum) {
  std::vector<bool> done(kClients, false);
  for (int pass = 0;
       pass < 12 && server_->phase() != SecAggServerPhase::kCompleted; ++pass) {
    for (int i = 0; i < kClients; ++i) {
      if (done[i]) continue;
      const auto delivered = [&] {
        return transports_[i]->messages + transports_[i]->masked_pushes;
      };
      const int before = delivered();
      absl::StatusOr<SecureUpload::Progress> progress = Advance(i);
      ASSERT_TRUE(progress.ok()) << progress.status();
      if (progress->done) {
        done[i] = true;
        EXPECT_TRUE(uploads_[i]->ended());
      } else if (delivered() > before) {
        // A message or the masked input was delivered: the next phase is
        // worth a poll now.
        EXPECT_TRUE(progress->poll_now);
        EXPECT_EQ(progress->retry_after_ms, 0u);
      } else {
        // An unheld poll found nothing: the coordinator's delay, no sleep.
        EXPECT_FALSE(progress->poll_now);
        EXPECT_EQ(progress->retry_after_ms, 100u);
      }
    }
    if (server_->AllResponded()) {
      ASSERT_TRUE(server_->AdvancePhase().ok());
    }
  }
  ASSERT_EQ(server_->phase(), SecAggServerPhase::kCompleted)
      << server_->abort_reason();
  EXPECT_EQ(done, std::vector<bool>(kClients, true));
  absl::StatusOr<std::vector<uint32_t>> sum = server_->TakeResult();
  ASSERT_TRUE(sum.ok()) << sum.status();
  for (uint64_t j = 0; j < kLength; ++j) {
    uint32_t expected = 0;
    for (const auto& x : inputs_) expected += x[j];
    EXPECT_EQ((*sum)[j], expected) << "coordinate " << j;
  }
  for (const auto& t : transports_) {
    EXPECT_EQ(t->masked_pushes, 1);
    EXPECT_EQ(t->pushed_session_id, config_.session_id())
        << "the masked input names its session";
  }
  // The clear report rides with its own client's masked input only.
  EXPECT_EQ(transports_[0]->clear_eval_report, kClearReport);
  EXPECT_TRUE(transports_[1]->clear_eval_report.empty());
}

TEST_F(SecureUploadTest, TransientFailureResendsTheSameMessageNextStep) {
  transports_[0]->fail_next = absl::UnavailableError("coordinator restarting");
  absl::StatusOr<SecureUpload::Progress> failed = Advance(0);
  EXPECT_TRUE(absl::IsUnavailable(failed.status())) << failed.status();
  EXPECT_FALSE(uploads_[0]->ended());  // resumable: the caller backs off
  EXPECT_EQ(transports_[0]->messages, 0);
  absl::StatusOr<SecureUpload::Progress> resent = Advance(0);
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_EQ(transports_[0]->messages, 1);  // AdvertiseKeys, once
  EXPECT_FALSE(resent->done);
}

// The coordinator refuses rather than queues an upload when its buffers
// are busy (RESOURCE_EXHAUSTED): the masked input is kept and pushed again
// at the next step, and the round still sums exactly.
TEST_F(SecureUploadTest, BusyCoordinatorGetsTheMaskedInputAgainNextStep) {
  transports_[0]->refuse_next_push = absl::ResourceExhaustedError(
      "all 4 upload buffers are busy; retry in 1000 ms");
  bool refused = false;
  std::vector<bool> done(kClients, false);
  for (int pass = 0;
       pass < 16 && server_->phase() != SecAggServerPhase::kCompleted; ++pass) {
    for (int i = 0; i < kClients; ++i) {
      if (done[i]) continue;
      absl::StatusOr<SecureUpload::Progress> progress = Advance(i);
      if (absl::IsResourceExhausted(progress.status())) {
        EXPECT_FALSE(uploads_[i]->ended());
        refused = true;
        continue;
      }
      ASSERT_TRUE(progress.ok()) << progress.status();
      done[i] = progress->done;
    }
    if (server_->AllResponded()) {
      ASSERT_TRUE(server_->AdvancePhase().ok());
    }
  }
  EXPECT_TRUE(refused);
  ASSERT_EQ(server_->phase(), SecAggServerPhase::kCompleted)
      << server_->abort_reason();
  EXPECT_EQ(transports_[0]->masked_pushes, 2);
  absl::StatusOr<std::vector<uint32_t>> sum = server_->TakeResult();
  ASSERT_TRUE(sum.ok()) << sum.status();
  for (uint64_t j = 0; j < kLength; ++j) {
    uint32_t expected = 0;
    for (const auto& x : inputs_) expected += x[j];
    EXPECT_EQ((*sum)[j], expected) << "coordinate " << j;
  }
}

TEST_F(SecureUploadTest, CoordinatorReportingTheRoundEndedEndsTheUpload) {
  transports_[0]->abort_next = true;
  absl::StatusOr<SecureUpload::Progress> ended = Advance(0);
  EXPECT_TRUE(absl::IsAborted(ended.status())) << ended.status();
  EXPECT_NE(std::string(ended.status().message()).find("too many dropouts"),
            std::string::npos);
  EXPECT_TRUE(uploads_[0]->ended());
  const int exchanges = transports_[0]->exchanges;
  EXPECT_TRUE(absl::IsFailedPrecondition(Advance(0).status()));
  EXPECT_EQ(transports_[0]->exchanges, exchanges);  // nothing further sent
}

TEST_F(SecureUploadTest, PassedDeadlineEndsTheUploadWithoutSending) {
  absl::StatusOr<SecureUpload::Progress> late = uploads_[0]->Advance(
      transports_[0].get(), deadline_ + std::chrono::milliseconds(1));
  EXPECT_TRUE(absl::IsDeadlineExceeded(late.status())) << late.status();
  EXPECT_NE(std::string(late.status().message()).find("secagg_timeout"),
            std::string::npos);
  EXPECT_TRUE(uploads_[0]->ended());
  EXPECT_EQ(transports_[0]->exchanges, 0);
}

TEST(SecAggIdentityTest, InsecureClientCannotSignItsKeys) {
  TlsConfig insecure;
  insecure.insecure = true;
  absl::StatusOr<SecAggIdentity> identity =
      LoadSecAggIdentity("site-a", insecure);
  EXPECT_TRUE(absl::IsFailedPrecondition(identity.status()));
  EXPECT_NE(std::string(identity.status().message()).find("--insecure"),
            std::string::npos);
}

}  // namespace
}  // namespace fedlearn
