// The daemon's long poll of a secure upload's next phase
// (ClientSession::NextSecAggPoll, CoordinatorTransport::SecAggPollAsync)
// over a scripted transport: the wait holds no worker, its reply goes on
// with the upload, and a reply after the daemon is gone is dropped. The
// session is brought to "advertised, waiting for ShareKeys" by hand first.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "boost/asio/io_context.hpp"
#include "boost/asio/thread_pool.hpp"
#include "client/client_daemon.h"
#include "common/tls/cert_authority.h"
#include "gtest/gtest.h"
#include "tests/client/fake_session_parts.h"
#include "tests/client/secure_session_parts.h"

namespace fedlearn {
namespace {

constexpr int64_t kDimension = 8;

// Keeps SecAggPollAsync's callback, as a gRPC call the coordinator holds
// does, unless `answer_at_once` is set.
struct HeldSecAggTransport : FakeTransport {
  bool SecAggPollAsync(
      const std::string&, uint64_t, std::chrono::milliseconds wait,
      std::function<void(absl::StatusOr<SecAggExchangeReply>)> done) override {
    ++async_polls;
    asked_wait = wait;
    if (answer_at_once.has_value()) {
      done(*answer_at_once);
      return true;
    }
    held = std::move(done);
    return true;
  }
  std::optional<SecAggExchangeReply> answer_at_once;
  std::function<void(absl::StatusOr<SecAggExchangeReply>)> held;
  std::chrono::milliseconds asked_wait{0};
  int async_polls = 0;
};

class ClientDaemonSecAggTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(identities_.status().ok()) << identities_.status();
    transport_.client_id = "client-001";
    ClientSession::Options options;
    options.identity = identities_.Tls("client-001");
    session_ = std::make_unique<ClientSession>(&transport_, &trainer_, nullptr,
                                               options);
    ASSERT_NO_FATAL_FAILURE(AdvertiseKeys());
  }

  // Joins, trains a secure task and sends its AdvertiseKeys: the upload
  // now only waits for the next phase.
  void AdvertiseKeys() {
    std::atomic<bool> cancel{false};
    Join(*session_, cancel);
    FetchReply reply = SecureTaskReply(kDimension, 1);
    transport_.fetch_replies.push_back(std::move(reply));
    ASSERT_EQ(session_->Step(cancel).kind,
              ClientSession::StepKind::kTaskReceived);
    ASSERT_EQ(session_->Step(cancel).kind, ClientSession::StepKind::kUploading);
    ClientSession::StepResult sent = session_->Step(cancel);
    ASSERT_EQ(sent.kind, ClientSession::StepKind::kIdle) << sent.status;
    ASSERT_EQ(transport_.secagg_messages.size(), 1u);
    ASSERT_TRUE(session_->NextSecAggPoll().has_value());
    exchanges_before_ = transport_.exchanges;
  }

  ThreeClientIdentities identities_;
  HeldSecAggTransport transport_;
  FakeTrainer trainer_{kDimension};
  std::unique_ptr<ClientSession> session_;
  int exchanges_before_ = 0;
};

TEST_F(ClientDaemonSecAggTest, NextPhaseIsLongPolledAndItsReplyHandled) {
  // The coordinator answers the held poll: the round's aggregation ended.
  SecAggExchangeReply ended;
  ended.aborted = true;
  ended.reason = "round 1 ended";
  transport_.answer_at_once = ended;
  FetchReply finished;
  finished.run_finished = true;
  transport_.fetch_replies.push_back(std::move(finished));
  boost::asio::io_context io;
  boost::asio::thread_pool workers(1);
  ClientDaemon::Options options;
  options.default_poll = std::chrono::minutes(10);  // no poll may wait
  options.backoff.initial = std::chrono::milliseconds(1);
  ClientDaemon daemon(io, workers, workers, session_.get(), &transport_,
                      options);
  absl::Status outcome = absl::UnknownError("did not finish");
  daemon.Start([&](const absl::Status& s) { outcome = s; });
  io.run();
  workers.join();
  EXPECT_TRUE(outcome.ok()) << outcome;
  EXPECT_EQ(transport_.async_polls, 1);
  EXPECT_EQ(transport_.exchanges, exchanges_before_)
      << "the wait was a long poll, not a blocking exchange";
  EXPECT_GT(transport_.asked_wait.count(), 0);
  EXPECT_LE(transport_.asked_wait, SecureUpload::kLongPollWait);
  EXPECT_FALSE(session_->NextSecAggPoll().has_value()) << "upload ended";
}

// As the fetch's (client_daemon_test.cc): the transport outlives its daemon
// and answers the held exchange later; the answer must not reach the
// destroyed daemon (nor advance the session).
TEST_F(ClientDaemonSecAggTest, AnswerAfterTheDaemonIsGoneIsDropped) {
  boost::asio::io_context io;
  boost::asio::thread_pool workers(1);
  const auto tick = std::chrono::milliseconds(10);
  {
    ClientDaemon daemon(io, workers, workers, session_.get(), &transport_, {});
    daemon.Start([](const absl::Status&) {});
    for (int i = 0; i < 200 && !transport_.held; ++i) io.run_for(tick);
    ASSERT_TRUE(transport_.held) << "the daemon never long-polled";
    daemon.Stop();
  }
  io.restart();
  io.poll();  // the destroyed daemon's cancelled timers
  SecAggExchangeReply waited;
  waited.waited = true;
  transport_.held(std::move(waited));
  workers.join();
  io.restart();
  EXPECT_EQ(io.poll(), 0u);
  EXPECT_EQ(transport_.exchanges, exchanges_before_);
  EXPECT_TRUE(session_->NextSecAggPoll().has_value())
      << "the dropped answer did not touch the upload";
}

}  // namespace
}  // namespace fedlearn
