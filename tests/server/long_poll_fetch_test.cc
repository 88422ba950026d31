// Long-polling FetchTask (FetchTaskRequest.wait_ms) end to end over gRPC:
// the coordinator's service on 127.0.0.1 (OS-chosen port, plaintext test
// mode), the real client transport's FetchTaskAsync. The engine and the
// service share a FakeClock and run no background threads: the test ticks
// the engine and serves the wait list itself (RunFetchWaits), so nothing
// here depends on timing.
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "client/grpc_coordinator_transport.h"
#include "common/util/clock.h"
#include "gtest/gtest.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "server/round/round_engine.h"

namespace fedlearn {
namespace {

FlatModel TwoValues() {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back({"w", {2}, DType::kFloat32});
  model.values = FlatVector(std::vector<float>{0.25f, -0.5f});
  return model;
}

class LongPollFetchTest : public ::testing::Test {
 protected:
  void Start(ServiceLimits limits, int clients_per_round = 2) {
    RoundEngineConfig config;
    config.secagg.enabled = false;
    config.run_id = "poll";
    config.num_rounds = 2;
    config.min_clients = clients_per_round;
    config.clients_per_round = clients_per_round;
    config.min_updates = 1;
    config.poll_interval_ms = 700;
    config.round_timeout = std::chrono::seconds(600);
    auto engine = RoundEngine::Create(config, TwoValues(), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    CoordinatorService::Options options;
    options.insecure = true;
    options.clock = &clock_;
    options.run_watchdog = false;  // the test serves waits and sweeps
    options.limits = limits;
    service_ = std::make_unique<CoordinatorService>(engine_.get(), options);
    TlsConfig plaintext;
    plaintext.insecure = true;
    auto server = StartGrpcServer("127.0.0.1:0", plaintext, service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    if (server_.server) {
      service_->EndFetchWaits();
      service_->RunFetchWaits();
      server_.server->Shutdown();
    }
  }

  std::unique_ptr<GrpcCoordinatorTransport> Client(const std::string& id) {
    GrpcTransportOptions options;
    options.target = "127.0.0.1:" + std::to_string(server_.port);
    options.tls.insecure = true;
    options.claimed_client_id = id;
    options.fetch_wait = std::chrono::seconds(20);
    auto client = GrpcCoordinatorTransport::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    auto contract = (*client)->GetContract();
    EXPECT_TRUE(contract.ok()) << contract.status();
    EXPECT_TRUE((*client)->Register(10, contract->digest).ok());
    return *std::move(client);
  }

  // Starts a long poll; the future gets its reply.
  std::future<absl::StatusOr<FetchReply>> Poll(GrpcCoordinatorTransport& c) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<FetchReply>>>();
    std::future<absl::StatusOr<FetchReply>> future = promise->get_future();
    EXPECT_TRUE(c.FetchTaskAsync("poll", 0, [promise](auto reply) {
      promise->set_value(std::move(reply));
    }));
    return future;
  }

  // The server holds `n` waiting fetches (they arrive asynchronously).
  void AwaitWaiting(size_t n) {
    while (service_->waiting_fetches() != n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  // Site-a (and site-b with `two_clients`, registered before the fetch)
  // registered, and site-a's fetch waiting on the server.
  struct WaitingFetch {
    std::unique_ptr<GrpcCoordinatorTransport> a, b;
    std::future<absl::StatusOr<FetchReply>> reply;
  };
  WaitingFetch StartWithAWaitingFetch(ServiceLimits limits, bool two_clients) {
    Start(limits);
    WaitingFetch w;
    w.a = Client("site-a");
    if (two_clients) w.b = Client("site-b");
    w.reply = Poll(*w.a);
    AwaitWaiting(1);
    return w;
  }

  FakeClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<CoordinatorService> service_;
  RunningServer server_;
};

TEST_F(LongPollFetchTest, WaitingFetchGetsTheTaskAsSoonAsTheRoundOpens) {
  WaitingFetch w = StartWithAWaitingFetch(ServiceLimits{}, true);
  engine_->Tick();  // two live clients: round 1 opens
  service_->RunFetchWaits();
  absl::StatusOr<FetchReply> got = w.reply.get();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->task.has_value()) << got->reason;
  EXPECT_EQ(got->task->round, 1u);
  EXPECT_EQ(got->task->model.values[1], -0.5f);
  EXPECT_EQ(service_->waiting_fetches(), 0u);
}

TEST_F(LongPollFetchTest, WaitThatRunsOutAnswersNoTaskToAskAgainAtOnce) {
  ServiceLimits limits;
  limits.max_fetch_wait = std::chrono::seconds(5);  // caps the asked 20 s
  WaitingFetch w = StartWithAWaitingFetch(limits, false);
  clock_.Advance(std::chrono::milliseconds(4999));
  service_->RunFetchWaits();
  EXPECT_EQ(service_->waiting_fetches(), 1u);
  clock_.Advance(std::chrono::milliseconds(1));
  service_->RunFetchWaits();
  absl::StatusOr<FetchReply> got = w.reply.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->task.has_value());
  EXPECT_TRUE(got->waited);
  EXPECT_EQ(got->retry_after_ms, 0u);
  EXPECT_FALSE(got->run_finished);
}

TEST_F(LongPollFetchTest, WaitingStreamIsNotEndedByTheIdleWatchdog) {
  ServiceLimits limits;
  limits.stream_idle_timeout = std::chrono::seconds(1);
  WaitingFetch w = StartWithAWaitingFetch(limits, false);
  clock_.Advance(std::chrono::seconds(10));
  EXPECT_EQ(service_->SweepStreams(), 0);
  EXPECT_EQ(service_->waiting_fetches(), 1u);
  auto b = Client("site-b");
  engine_->Tick();
  service_->RunFetchWaits();
  absl::StatusOr<FetchReply> got = w.reply.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->task.has_value());
}

TEST_F(LongPollFetchTest, WaitingStreamsHoldNoneOfTheOpenStreams) {
  ServiceLimits limits;
  limits.max_open_streams = 1;
  WaitingFetch w = StartWithAWaitingFetch(limits, true);
  EXPECT_EQ(service_->open_streams(), 0);
  // The one open stream is free for another client's answer.
  absl::StatusOr<FetchReply> at_once = w.b->FetchTask("poll", 0);
  ASSERT_TRUE(at_once.ok()) << at_once.status();
  EXPECT_FALSE(at_once->task.has_value());
}

TEST_F(LongPollFetchTest, FullWaitListRefusesWithAClearStatus) {
  ServiceLimits limits;
  limits.max_waiting_fetches = 1;
  WaitingFetch w = StartWithAWaitingFetch(limits, true);
  absl::StatusOr<FetchReply> refused = Poll(*w.b).get();
  ASSERT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("limits.max_waiting_fetches"),
            absl::string_view::npos)
      << refused.status();
}

TEST_F(LongPollFetchTest, CancelledFetchEndsItsWait) {
  WaitingFetch w = StartWithAWaitingFetch(ServiceLimits{}, false);
  w.a->CancelInFlight();
  absl::StatusOr<FetchReply> got = w.reply.get();
  EXPECT_TRUE(absl::IsCancelled(got.status())) << got.status();
  AwaitWaiting(0);  // the server let the stream go
}

TEST_F(LongPollFetchTest, ShutdownAnswersEveryWaiterAndWaitsNoMore) {
  WaitingFetch w = StartWithAWaitingFetch(ServiceLimits{}, false);
  service_->EndFetchWaits();
  service_->RunFetchWaits();
  absl::StatusOr<FetchReply> got = w.reply.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->task.has_value());
  EXPECT_FALSE(got->waited);
  EXPECT_EQ(got->retry_after_ms, 700u) << "the coordinator's poll interval";
  // Later fetches answer at once.
  absl::StatusOr<FetchReply> later = Poll(*w.a).get();
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_FALSE(later->waited);
  EXPECT_EQ(service_->waiting_fetches(), 0u);
}

TEST_F(LongPollFetchTest, RequestWithoutWaitIsAnsweredAtOnceAsBefore) {
  Start(ServiceLimits{});
  auto a = Client("site-a");
  absl::StatusOr<FetchReply> got = a->FetchTask("poll", 0);  // wait_ms 0
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->task.has_value());
  EXPECT_FALSE(got->waited);
  EXPECT_EQ(got->retry_after_ms, 700u);
  EXPECT_EQ(service_->waiting_fetches(), 0u);
}

}  // namespace
}  // namespace fedlearn
