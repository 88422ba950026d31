// The daemon's retry policy over a scripted transport: which failures it
// retries, with which backoff delays (recorded through Options::on_backoff,
// never measured as wall time), and when it finishes. Test delays are a few
// milliseconds, so the io_context's real timers finish each test quickly.
#include "client/client_daemon.h"

#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "boost/asio/thread_pool.hpp"
#include "gtest/gtest.h"
#include "tests/client/fake_session_parts.h"

namespace fedlearn {
namespace {

using std::chrono::milliseconds;

class ClientDaemonTest : public ::testing::Test {
 protected:
  // Runs the daemon until it finishes, or until `stop_after` backoff delays
  // have been scheduled (then it is stopped). Returns its outcome.
  absl::Status Run(BackoffPolicy backoff, size_t stop_after) {
    boost::asio::io_context io;
    boost::asio::thread_pool workers(1);
    ClientDaemon::Options options;
    options.backoff = backoff;
    options.default_poll = milliseconds(1);
    options.jitter_seed = 5;
    std::optional<ClientDaemon> daemon;
    options.on_backoff = [&](milliseconds delay) {
      delays_.push_back(delay);
      if (delays_.size() == stop_after) daemon->Stop();
    };
    daemon.emplace(io, workers, workers, &session_, &transport_, options);
    absl::Status outcome = absl::UnknownError("did not finish");
    daemon->Start([&](const absl::Status& s) { outcome = s; });
    io.run();
    workers.join();
    return outcome;
  }

  static BackoffPolicy Policy(int initial_ms, int max_ms, int in_run_max_ms) {
    BackoffPolicy p;
    p.initial = milliseconds(initial_ms);
    p.max = milliseconds(max_ms);
    p.in_run_max = milliseconds(in_run_max_ms);
    return p;
  }

  static FetchReply Halted() {
    FetchReply r;
    r.run_halted = true;
    r.reason = "round 2 could not be recorded: No space left on device";
    return r;
  }

  FakeTransport transport_;
  FakeTrainer trainer_{8};
  ClientSession session_{&transport_, &trainer_, nullptr, {}};
  std::vector<milliseconds> delays_;
};

TEST_F(ClientDaemonTest, BackoffIsCappedLowOnceTheClientHasJoinedTheRun) {
  // Registered, then the coordinator goes away (FetchTask fails
  // UNAVAILABLE): it is restarting, and its round waits for this client.
  const absl::Status outcome = Run(Policy(1, 256, 4), /*stop_after=*/10);
  EXPECT_TRUE(absl::IsCancelled(outcome)) << outcome;
  EXPECT_EQ(transport_.registers, 1);
  ASSERT_EQ(delays_.size(), 10u);
  for (milliseconds d : delays_) EXPECT_LE(d.count(), 4);
}

TEST_F(ClientDaemonTest, BackoffGrowsToItsMaxWhileTheClientHasNotJoined) {
  // Never registered (the coordinator is not up yet): the long backoff.
  transport_.register_status = absl::UnavailableError("connection refused");
  Run(Policy(1, 32, 4), /*stop_after=*/8);
  ASSERT_EQ(delays_.size(), 8u);
  EXPECT_GE(delays_.back().count(), 16);  // equal jitter: >= max / 2
  EXPECT_LE(delays_.back().count(), 32);
}

TEST_F(ClientDaemonTest, GivingUpInTheRunTakesAsLongAsTheNormalSchedule) {
  // max_consecutive_failures = 4 normally waits 1 + 2 + 4 = 7 ms; the in-run
  // retries (<= 2 ms apart) must not give up sooner than that.
  BackoffPolicy policy = Policy(1, 8, 2);
  policy.max_consecutive_failures = 4;
  const absl::Status outcome = Run(policy, /*stop_after=*/1000);
  EXPECT_TRUE(absl::IsUnavailable(outcome)) << outcome;
  EXPECT_NE(std::string(outcome.message()).find("giving up"), std::string::npos)
      << outcome;
  milliseconds waited(0);
  for (milliseconds d : delays_) waited += d;
  EXPECT_GE(waited.count(), 7);
  EXPECT_GT(delays_.size(), 3u);
}

TEST_F(ClientDaemonTest, GivesUpAfterMaxFailuresBeforeJoiningARun) {
  transport_.register_status = absl::UnavailableError("connection refused");
  BackoffPolicy policy = Policy(1, 8, 2);
  policy.max_consecutive_failures = 4;
  const absl::Status outcome = Run(policy, /*stop_after=*/1000);
  EXPECT_TRUE(absl::IsUnavailable(outcome)) << outcome;
  EXPECT_EQ(transport_.registers, 4);
  EXPECT_EQ(delays_.size(), 3u);
}

TEST_F(ClientDaemonTest, HaltedRunIsRetriedUntilTheRestartedRunFinishes) {
  // The coordinator could not write its state and halted the run twice
  // (the operator restarted it once too early), then the run completed.
  transport_.fetch_replies.push_back(Halted());
  transport_.fetch_replies.push_back(Halted());
  FetchReply finished;
  finished.run_finished = true;
  transport_.fetch_replies.push_back(std::move(finished));
  const absl::Status outcome = Run(Policy(1, 256, 4), /*stop_after=*/100);
  EXPECT_TRUE(outcome.ok()) << outcome;
  EXPECT_EQ(delays_.size(), 2u) << "a halted run is a transient failure";
  EXPECT_TRUE(transport_.fetch_replies.empty());
}

TEST_F(ClientDaemonTest, FailedRunFinishesTheDaemonWithAnError) {
  FetchReply failed;
  failed.run_finished = true;
  failed.run_failed = true;
  failed.reason = "round 3 attempt 3: 0 accepted update(s)";
  transport_.fetch_replies.push_back(std::move(failed));
  const absl::Status outcome = Run(Policy(1, 256, 4), /*stop_after=*/100);
  EXPECT_FALSE(outcome.ok());
  EXPECT_FALSE(absl::IsCancelled(outcome)) << "would exit 0";
  EXPECT_NE(std::string(outcome.message()).find("round 3 attempt 3"),
            std::string::npos)
      << outcome;
  EXPECT_TRUE(delays_.empty());
}

// Offers the long poll: each FetchTaskAsync answers from fetch_replies at
// once (as a coordinator whose wait ran out), on the caller's thread.
struct LongPollTransport : FakeTransport {
  bool FetchTaskAsync(
      const std::string& run_id, uint64_t last_round,
      std::function<void(absl::StatusOr<FetchReply>)> done) override {
    ++async_fetches;
    done(FetchTask(run_id, last_round));
    return true;
  }
  int async_fetches = 0;
};

TEST(ClientDaemonLongPollTest, WaitedNoTaskIsAskedAgainAtOnce) {
  // The poll interval is ten minutes: only asking again at once after each
  // wait that ran out lets the daemon reach the run's end.
  LongPollTransport transport;
  for (int i = 0; i < 3; ++i) {
    FetchReply waited;
    waited.waited = true;
    transport.fetch_replies.push_back(std::move(waited));
  }
  FetchReply finished;
  finished.run_finished = true;
  transport.fetch_replies.push_back(std::move(finished));
  FakeTrainer trainer{8};
  ClientSession session{&transport, &trainer, nullptr, {}};
  boost::asio::io_context io;
  boost::asio::thread_pool workers(1);
  ClientDaemon::Options options;
  options.default_poll = std::chrono::minutes(10);
  ClientDaemon daemon(io, workers, workers, &session, &transport, options);
  absl::Status outcome = absl::UnknownError("did not finish");
  daemon.Start([&](const absl::Status& s) { outcome = s; });
  io.run();
  workers.join();
  EXPECT_TRUE(outcome.ok()) << outcome;
  EXPECT_EQ(transport.async_fetches, 4) << "every fetch was a long poll";
  EXPECT_TRUE(transport.fetch_replies.empty());
}

// Keeps FetchTaskAsync's callback, as a gRPC call still waiting on the
// coordinator does, and answers it only when told to.
struct HeldLongPollTransport : FakeTransport {
  bool FetchTaskAsync(
      const std::string&, uint64_t,
      std::function<void(absl::StatusOr<FetchReply>)> done) override {
    held = std::move(done);
    return true;
  }
  absl::StatusOr<FetchReply> FetchTask(const std::string& run_id,
                                       uint64_t last_round) override {
    ++blocking_fetches;
    return FakeTransport::FetchTask(run_id, last_round);
  }
  std::function<void(absl::StatusOr<FetchReply>)> held;
  int blocking_fetches = 0;
};

// The simulation's crash at exit (make demo, SIGSEGV in the callback): the
// transport outlives its daemon and, destroyed, answers the waiting fetch;
// the answer must not reach the destroyed daemon.
TEST(ClientDaemonLongPollTest, AnswerAfterTheDaemonIsGoneIsDropped) {
  HeldLongPollTransport transport;
  FakeTrainer trainer{8};
  ClientSession session{&transport, &trainer, nullptr, {}};
  boost::asio::io_context io;
  boost::asio::thread_pool workers(1);
  const auto tick = std::chrono::milliseconds(10);
  {
    ClientDaemon daemon(io, workers, workers, &session, &transport, {});
    daemon.Start([](const absl::Status&) {});
    for (int i = 0; i < 200 && !transport.held; ++i) io.run_for(tick);
    ASSERT_TRUE(transport.held) << "the daemon never long-polled";
    daemon.Stop();
  }
  io.restart();
  io.poll();  // the destroyed daemon's cancelled timers
  FetchReply waited;
  waited.waited = true;
  transport.held(std::move(waited));
  workers.join();
  io.restart();
  // Had the answer reached the gone daemon, its reply would have been
  // handled on the worker and its next step queued here.
  EXPECT_EQ(io.poll(), 0u);
  EXPECT_EQ(transport.blocking_fetches, 0);
}

}  // namespace
}  // namespace fedlearn
