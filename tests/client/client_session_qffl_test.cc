// q-FFL in the client session: a task with qffl_lipschitz > 0 uploads the
// D + 1 q-FedAvg values (client/training/qffl_transform.h) with example
// count 1, computed from the trainer's global_loss; a DP q-FFL task is
// refused; a task without q-FFL uploads the delta unchanged.
#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "client/client_session.h"
#include "common/config/qffl_update.h"
#include "gtest/gtest.h"
#include "tests/client/fake_session_parts.h"

namespace fedlearn {
namespace {

// FakeTrainer's delta (0.5 everywhere), plus F_k when the task asks.
class QfflFakeTrainer : public FakeTrainer {
 public:
  using FakeTrainer::FakeTrainer;
  absl::StatusOr<TrainingResult> Train(
      const FlatVector& global, const TrainingConfig& config,
      const std::atomic<bool>& cancel) override {
    absl::StatusOr<TrainingResult> r =
        FakeTrainer::Train(global, config, cancel);
    if (r.ok() && QfflEnabled(config)) r->global_loss = 1.5;
    return r;
  }
};

FetchReply QfflTask(double q, double lipschitz) {
  FetchReply reply = TaskReply(4, 1);
  reply.task->training.qffl_q = q;
  reply.task->training.qffl_lipschitz = lipschitz;
  return reply;
}

class ClientSessionQfflTest : public ::testing::Test {
 protected:
  // Joins, fetches `reply`, trains; returns the training step's result.
  ClientSession::StepResult TrainOn(FetchReply reply) {
    Join(session_, cancel_);
    transport_.fetch_replies.push_back(std::move(reply));
    EXPECT_EQ(session_.Step(cancel_).kind,
              ClientSession::StepKind::kTaskReceived);
    return session_.Step(cancel_);
  }
  FakeTransport transport_;
  QfflFakeTrainer trainer_{4};
  std::atomic<bool> cancel_{false};
  ClientSession session_{&transport_, &trainer_, nullptr, {}};
};

TEST_F(ClientSessionQfflTest, UploadsTheQFedAvgValuesWithCountOne) {
  ASSERT_EQ(TrainOn(QfflTask(2.0, 10.0)).kind,
            ClientSession::StepKind::kUploading);
  ASSERT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kTrained);
  ASSERT_EQ(transport_.pushed.size(), 1u);
  const FakeTransport::Pushed& p = transport_.pushed[0];
  EXPECT_EQ(p.num_examples, 1u);
  ASSERT_EQ(p.delta.size(), 5u);
  // F = 1.5 (+1e-10), q = 2, L = 10, delta = 0.5 x 4 (||delta||^2 = 1):
  // u_j = F^2 * 0.5, u_D = (F^2 + 2 F * 10 * 1) / H.
  const double f = 1.5 + kQfflLossOffset;
  for (size_t j = 0; j < 4; ++j) {
    EXPECT_EQ(p.delta[j], static_cast<float>(f * f * 0.5));
  }
  EXPECT_EQ(p.delta[4],
            static_cast<float>((f * f + 2 * f * 10) / kQfflDenominatorScale));
}

TEST_F(ClientSessionQfflTest, RefusesADifferentiallyPrivateQfflTask) {
  FetchReply reply = QfflTask(1.0, 10.0);
  v1::DpTaskConfig dp;
  dp.set_mode(v1::DpTaskConfig::CENTRAL);
  dp.set_clip_norm(100.0);
  reply.task->dp = dp;
  const ClientSession::StepResult r = TrainOn(std::move(reply));
  EXPECT_NE(r.kind, ClientSession::StepKind::kUploading);
  EXPECT_NE(std::string(r.status.message()).find("differential privacy"),
            std::string::npos)
      << r.status;
  EXPECT_TRUE(transport_.pushed.empty());
}

TEST_F(ClientSessionQfflTest, ATaskWithoutQfflUploadsTheDeltaAsBefore) {
  ASSERT_EQ(TrainOn(TaskReply(4, 1)).kind, ClientSession::StepKind::kUploading);
  ASSERT_EQ(session_.Step(cancel_).kind, ClientSession::StepKind::kTrained);
  ASSERT_EQ(transport_.pushed.size(), 1u);
  EXPECT_EQ(transport_.pushed[0].num_examples, 42u);
  EXPECT_EQ(transport_.pushed[0].delta.size(), 4u);
}

}  // namespace
}  // namespace fedlearn
