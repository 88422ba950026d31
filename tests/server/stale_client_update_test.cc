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
#include "tests/test_util/mtls_coordinator.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using testing_util::MtlsCoordinator;
using testing_util::ScopedTempDir;
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
  StaleClientUpdateTest() : coordinator_(dir_.path()) {
    coordinator_.federation().Issue("fast");
    coordinator_.federation().Issue("sleepy");
  }
  ~StaleClientUpdateTest() override {
    stop_ = true;
    if (fast_thread_.joinable()) fast_thread_.join();
    if (driver_.joinable()) driver_.join();
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
    IdentityConfig identity;
    identity.enrolled_clients = {"fast", "sleepy"};
    absl::Status started = coordinator_.Start(config, InitialModel(), identity);
    ASSERT_TRUE(started.ok()) << started;
    engine_ = coordinator_.engine();
    driver_ = std::thread([this] { (void)engine_->RunUntilDone(stop_, 20ms); });
  }

  std::unique_ptr<GrpcCoordinatorTransport> Transport(const std::string& id) {
    return coordinator_.Transport(id);
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
  MtlsCoordinator coordinator_;
  RoundEngine* engine_ = nullptr;  // coordinator_'s
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
