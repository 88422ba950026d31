// A client must never have an update computed against a stale model version
// counted. The real client stack (ClientSession over GrpcCoordinatorTransport)
// against the real coordinator (RoundEngine, CoordinatorService, gRPC on
// 127.0.0.1 with mutual TLS): "sleepy" trains round 1's task and is then
// held (as if stopped with SIGSTOP) before it pushes, while "fast" carries
// round 1 alone. Resumed in round 2, sleepy does send its round-1 update
// once; the coordinator refuses it (FAILED_PRECONDITION: round 1 is no
// longer collecting) and it is not in round 1's model; sleepy's next step
// fetches round 2's task, trains on model version 1 and is accepted.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "client/client_session.h"
#include "client/grpc_coordinator_transport.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "server/identity/client_authorizer.h"
#include "tests/server/identity/test_federation.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using testing_util::RecordingAuditSink;
using testing_util::ScopedTempDir;
using testing_util::TestFederation;
using Kind = ClientSession::StepKind;
using namespace std::chrono_literals;

constexpr int64_t kDimension = 4;

FlatModel InitialModel() {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back({"w", {kDimension}, DType::kFloat32});
  model.values = FlatVector(kDimension);
  return model;
}

// Returns `delta` everywhere, 10 examples.
class ConstantTrainer : public LocalTrainer {
 public:
  explicit ConstantTrainer(float delta) : delta_(delta) {}
  const ModelSpec& Spec() const override { return spec_; }
  uint64_t NumExamples() const override { return 10; }
  absl::StatusOr<TrainingResult> Train(const FlatVector& global,
                                       const TrainingConfig&,
                                       const std::atomic<bool>&) override {
    TrainingResult r;
    r.delta = FlatVector(global.size());
    for (size_t i = 0; i < global.size(); ++i) r.delta[i] = delta_;
    r.num_examples = 10;
    return r;
  }

 private:
  ModelSpec spec_ = InitialModel().spec;
  float delta_;
};

class StaleClientUpdateTest : public ::testing::Test {
 protected:
  StaleClientUpdateTest() : federation_(dir_.path()) {
    federation_.Issue("fast");
    federation_.Issue("sleepy");
  }
  ~StaleClientUpdateTest() override {
    stop_ = true;
    if (fast_thread_.joinable()) fast_thread_.join();
    if (driver_.joinable()) driver_.join();
    if (server_.server) server_.server->Shutdown();
  }

  void Start() {
    RoundEngineConfig config;
    config.secagg.enabled = false;
    config.run_id = "stale-test";
    config.num_rounds = 2;
    config.min_clients = 2;
    config.clients_per_round = 2;
    config.min_updates = 1;
    // Round 1 closes with fast's update alone once this passes.
    config.round_timeout = std::chrono::seconds(2);
    config.poll_interval_ms = 20;
    auto engine =
        RoundEngine::Create(config, InitialModel(), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    ClientAuthorizer::Options auth;
    auth.run_id = "stale-test";
    auth.identity.enrolled_clients = {"fast", "sleepy"};
    auth.ca_pem = federation_.ca_pem();
    auth.audit = &audit_;
    auto authorizer = ClientAuthorizer::Create(std::move(auth));
    ASSERT_TRUE(authorizer.ok()) << authorizer.status();
    authorizer_ = *std::move(authorizer);
    CoordinatorService::Options options;
    options.audit = &audit_;
    options.authorizer = authorizer_.get();
    service_ = std::make_unique<CoordinatorService>(engine_.get(), options);
    auto server = StartGrpcServer("127.0.0.1:0", federation_.Tls("server"),
                                  service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    driver_ = std::thread([this] { (void)engine_->RunUntilDone(stop_, 20ms); });
  }

  std::unique_ptr<GrpcCoordinatorTransport> Transport(const std::string& id) {
    GrpcTransportOptions options;
    options.target = "127.0.0.1:" + std::to_string(server_.port);
    options.server_name_override = "localhost";
    options.tls = federation_.Tls(id);
    options.rpc_timeout = std::chrono::seconds(10);
    auto transport = GrpcCoordinatorTransport::Create(options);
    EXPECT_TRUE(transport.ok()) << transport.status();
    return transport.ok() ? *std::move(transport) : nullptr;
  }

  // Steps `session` until a step of `kind` (or the run ends or 30 s pass).
  static ClientSession::StepResult StepUntil(ClientSession& session,
                                             Kind kind) {
    std::atomic<bool> cancel{false};
    const auto end = std::chrono::steady_clock::now() + 30s;
    ClientSession::StepResult r;
    while (std::chrono::steady_clock::now() < end) {
      r = session.Step(cancel);
      if (r.kind == kind || r.kind == Kind::kRunFinished) return r;
      if (r.kind == Kind::kIdle || r.kind == Kind::kFailed) {
        std::this_thread::sleep_for(20ms);
      }
    }
    return r;
  }

  bool WaitForRound(uint64_t round) {
    const auto end = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < end) {
      if (engine_->current_round() >= round) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  ScopedTempDir dir_;
  TestFederation federation_;
  RecordingAuditSink audit_;
  SystemClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<ClientAuthorizer> authorizer_;
  std::unique_ptr<CoordinatorService> service_;
  RunningServer server_;
  std::atomic<bool> stop_{false};
  std::thread driver_;
  std::thread fast_thread_;
};

TEST_F(StaleClientUpdateTest,
       ClientHeldThroughARoundHasItsOldUpdateRefusedAndFetchesTheNewTask) {
  Start();
  ConstantTrainer fast_trainer(0.5f);
  ConstantTrainer sleepy_trainer(100.0f);  // shows if it is ever averaged in
  auto fast_transport = Transport("fast");
  auto sleepy_transport = Transport("sleepy");
  ASSERT_NE(fast_transport, nullptr);
  ASSERT_NE(sleepy_transport, nullptr);
  ClientSession fast(fast_transport.get(), &fast_trainer, nullptr, {});
  ClientSession sleepy(sleepy_transport.get(), &sleepy_trainer, nullptr, {});

  fast_thread_ = std::thread([&] {
    std::atomic<bool> cancel{false};
    while (!stop_) {
      ClientSession::StepResult r = fast.Step(cancel);
      if (r.kind == Kind::kRunFinished) return;
      if (r.kind == Kind::kIdle || r.kind == Kind::kFailed) {
        std::this_thread::sleep_for(20ms);
      }
    }
  });
  // Sleepy trains round 1's task; its next step would push the update.
  ClientSession::StepResult trained = StepUntil(sleepy, Kind::kUploading);
  ASSERT_EQ(trained.kind, Kind::kUploading) << trained.status;
  ASSERT_EQ(trained.round, 1u);
  // Held until round 1 was released without it.
  ASSERT_TRUE(WaitForRound(2));
  std::shared_ptr<const FlatModel> after_round1 = engine_->global_model();
  for (size_t i = 0; i < kDimension; ++i) {
    EXPECT_FLOAT_EQ(after_round1->values[i], 0.5f) << "fast's update only";
  }

  // Resumed: it sends the round-1 update it holds, and is refused.
  std::atomic<bool> cancel{false};
  ClientSession::StepResult stale = sleepy.Step(cancel);
  EXPECT_EQ(stale.kind, Kind::kFailed);
  EXPECT_EQ(stale.status.code(), absl::StatusCode::kFailedPrecondition)
      << stale.status;
  EXPECT_THAT(stale.status.message(), HasSubstr("round 1"));

  // Its next steps fetch round 2's task (model version 1) and deliver it.
  ClientSession::StepResult next = StepUntil(sleepy, Kind::kTaskReceived);
  ASSERT_EQ(next.kind, Kind::kTaskReceived) << next.status;
  EXPECT_EQ(next.round, 2u);
  ClientSession::StepResult delivered = StepUntil(sleepy, Kind::kTrained);
  ASSERT_EQ(delivered.kind, Kind::kTrained) << delivered.status;
  EXPECT_EQ(delivered.round, 2u);
  fast_thread_.join();
  EXPECT_EQ(StepUntil(sleepy, Kind::kRunFinished).kind, Kind::kRunFinished);
  // Round 2: the mean of 0.5 and 100 on top of round 1's 0.5.
  std::shared_ptr<const FlatModel> final_model = engine_->global_model();
  EXPECT_FLOAT_EQ(final_model->values[0], 0.5f + (0.5f + 100.0f) / 2);
}

}  // namespace
}  // namespace fedlearn
