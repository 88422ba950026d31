// Federated evaluation in the client's protocol state machine, with the
// fake transport and trainer and a scripted evaluator: no network, no
// LibTorch.
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "client/client_session.h"
#include "client/site_evaluation.h"
#include "common/evaluation/eval_vector_codec.h"
#include "common/secagg/input_encoding.h"
#include "common/tls/cert_authority.h"
#include "gtest/gtest.h"
#include "tests/client/fake_session_parts.h"
#include "tests/client/secure_session_parts.h"

namespace fedlearn {
namespace {

constexpr int64_t kDimension = 8;

// Reports a fixed, valid report of the layout (3 of 4 correct) and
// remembers what it was asked, and whether training had happened by then.
class FakeEvaluator : public LocalEvaluator {
 public:
  explicit FakeEvaluator(const FakeTrainer* trainer) : trainer_(trainer) {}
  uint64_t NumExamples() const override { return 4; }
  absl::StatusOr<SiteEvalReport> Evaluate(const FlatVector& global,
                                          const EvalLayout& layout,
                                          uint64_t max_examples,
                                          const std::atomic<bool>&) override {
    ++calls;
    trainings_before = trainer_->calls;
    last_max_examples = max_examples;
    last_model_size = global.size();
    return Report(layout);
  }
  static SiteEvalReport Report(const EvalLayout& layout) {
    SiteEvalBuilder builder(layout);
    EXPECT_TRUE(builder.Add(1, 1, 0.9, 0.1).ok());
    EXPECT_TRUE(builder.Add(0, 0, 0.2, 0.2).ok());
    EXPECT_TRUE(builder.Add(1, 1, 0.7, 0.3).ok());
    EXPECT_TRUE(builder.Add(0, 1, 0.6, 0.9).ok());
    return builder.Finish();
  }
  const FakeTrainer* trainer_;
  int calls = 0;
  int trainings_before = -1;
  uint64_t last_max_examples = 0;
  size_t last_model_size = 0;
};

v1::RunContract EvaluatingContract() {
  v1::RunContract contract;
  contract.set_run_id("run-1");
  contract.mutable_model()->set_num_classes(2);
  v1::EvaluationSpec* spec = contract.mutable_evaluation();
  spec->set_holdout_fraction(0.1);
  spec->set_score_bins(10);
  spec->set_accuracy_bins(10);
  spec->set_loss_bins(10);
  spec->set_max_loss(20);
  spec->set_accuracy_threshold(0.5);
  return contract;
}

EvalLayout Layout() { return *EvalLayout::FromContract(EvaluatingContract()); }

FetchReply EvaluationTask(bool evaluate_only, uint64_t max_examples = 1000) {
  FetchReply reply = TaskReply(kDimension, 2);
  v1::EvaluationTask evaluation;
  evaluation.set_evaluate_only(evaluate_only);
  evaluation.set_max_examples(max_examples);
  reply.task->evaluation = evaluation;
  return reply;
}

class SessionEvaluationTest : public ::testing::Test {
 protected:
  void SetUp() override { transport_.contract.contract = EvaluatingContract(); }
  // Prepares, registers, receives `task`, runs its compute step and pushes.
  ClientSession::StepResult RunTask(FetchReply task) {
    Join(session_, cancel_);
    transport_.fetch_replies.push_back(std::move(task));
    EXPECT_EQ(session_.Step(cancel_).kind,
              ClientSession::StepKind::kTaskReceived);
    ClientSession::StepResult computed = session_.Step(cancel_);
    if (computed.kind != ClientSession::StepKind::kUploading) return computed;
    return session_.Step(cancel_);
  }

  FakeTransport transport_;
  FakeTrainer trainer_{kDimension};
  FakeEvaluator evaluator_{&trainer_};
  FixedTrainerPreparer preparer_{&trainer_, &evaluator_};
  std::atomic<bool> cancel_{false};
  ClientSession session_{&transport_, &preparer_, nullptr, {}};
};

TEST_F(SessionEvaluationTest, EvaluatesBeforeTrainingAndSendsTheReport) {
  ClientSession::StepResult r = RunTask(EvaluationTask(false, 77));
  ASSERT_EQ(r.kind, ClientSession::StepKind::kTrained) << r.status;
  EXPECT_EQ(evaluator_.calls, 1);
  EXPECT_EQ(evaluator_.trainings_before, 0);  // the model as received
  EXPECT_EQ(evaluator_.last_max_examples, 77u);
  EXPECT_EQ(evaluator_.last_model_size, static_cast<size_t>(kDimension));
  EXPECT_EQ(trainer_.calls, 1);
  ASSERT_EQ(transport_.pushed.size(), 1u);
  EXPECT_EQ(transport_.pushed[0].delta[0], 0.5f);  // trained as usual
  EXPECT_EQ(transport_.pushed[0].eval_report,
            FakeEvaluator::Report(Layout()).ToVector(Layout()));
}

TEST_F(SessionEvaluationTest, EvaluateOnlySendsZerosAndDoesNotTrain) {
  ClientSession::StepResult r = RunTask(EvaluationTask(true));
  ASSERT_EQ(r.kind, ClientSession::StepKind::kTrained) << r.status;
  EXPECT_EQ(evaluator_.calls, 1);
  EXPECT_EQ(trainer_.calls, 0);
  ASSERT_EQ(transport_.pushed.size(), 1u);
  const FlatVector& delta = transport_.pushed[0].delta;
  ASSERT_EQ(delta.size(), static_cast<size_t>(kDimension));
  for (size_t i = 0; i < delta.size(); ++i) EXPECT_EQ(delta[i], 0.0f) << i;
  EXPECT_EQ(transport_.pushed[0].num_examples, 42u);  // a valid weight
  EXPECT_EQ(transport_.pushed[0].eval_report,
            FakeEvaluator::Report(Layout()).ToVector(Layout()));
}

TEST_F(SessionEvaluationTest, TaskWithoutEvaluationSendsNoReport) {
  ClientSession::StepResult r = RunTask(TaskReply(kDimension, 2));
  ASSERT_EQ(r.kind, ClientSession::StepKind::kTrained) << r.status;
  EXPECT_EQ(evaluator_.calls, 0);
  ASSERT_EQ(transport_.pushed.size(), 1u);
  EXPECT_TRUE(transport_.pushed[0].eval_report.empty());
}

TEST_F(SessionEvaluationTest, EvaluationTaskUnderAContractWithoutItIsRefused) {
  transport_.contract.contract.clear_evaluation();
  ClientSession::StepResult r = RunTask(EvaluationTask(false));
  EXPECT_EQ(r.kind, ClientSession::StepKind::kFailed);
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status)) << r.status;
  EXPECT_EQ(trainer_.calls, 0);
  EXPECT_TRUE(transport_.pushed.empty());
}

TEST_F(SessionEvaluationTest, DifferentiallyPrivateEvaluationTaskIsRefused) {
  FetchReply task = EvaluationTask(false);
  task.task->dp = v1::DpTaskConfig();
  task.task->dp->set_mode(v1::DpTaskConfig::CENTRAL);
  task.task->dp->set_clip_norm(1.0);
  ClientSession::StepResult r = RunTask(std::move(task));
  EXPECT_EQ(r.kind, ClientSession::StepKind::kFailed);
  EXPECT_NE(r.status.message().find("privacy"), std::string::npos) << r.status;
  EXPECT_EQ(evaluator_.calls, 0);
  EXPECT_TRUE(transport_.pushed.empty());
}

TEST(SessionEvaluationWithoutHoldoutTest, ReportsAZeroReport) {
  FakeTransport transport;
  transport.contract.contract = EvaluatingContract();
  FakeTrainer trainer(kDimension);
  FixedTrainerPreparer preparer(&trainer);  // nothing held out
  std::atomic<bool> cancel{false};
  ClientSession session(&transport, &preparer, nullptr, {});
  Join(session, cancel);
  transport.fetch_replies.push_back(EvaluationTask(false));
  ASSERT_EQ(session.Step(cancel).kind, ClientSession::StepKind::kTaskReceived);
  ASSERT_EQ(session.Step(cancel).kind, ClientSession::StepKind::kUploading);
  ASSERT_EQ(session.Step(cancel).kind, ClientSession::StepKind::kTrained);
  ASSERT_EQ(transport.pushed.size(), 1u);
  EXPECT_EQ(transport.pushed[0].eval_report,
            SiteEvalReport::Zero(Layout()).ToVector(Layout()));
}

// A secure round: the masked input is [update encoding] ++ [report codec].
class SecureSessionEvaluationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(identities_.status().ok()) << identities_.status();
    transport_.client_id = "client-001";
    transport_.contract.contract = EvaluatingContract();
    ClientSession::Options options;
    options.identity = identities_.Tls("client-001");
    session_ = std::make_unique<ClientSession>(&transport_, &preparer_, nullptr,
                                               options);
  }

  FetchReply SecureTask(uint64_t vector_length) {
    FetchReply reply = EvaluationTask(false, 500);
    MakeCohortSecure(2, vector_length, &reply);
    return reply;
  }
  size_t CodecLength() const {
    absl::StatusOr<EvalVectorCodec> codec =
        EvalVectorCodec::Create(Layout(), 32, 3, 500);
    EXPECT_TRUE(codec.ok()) << codec.status();
    return codec.ok() ? codec->length() : 0;
  }
  ClientSession::StepResult TrainSecure(uint64_t vector_length) {
    Join(*session_, cancel_);
    transport_.fetch_replies.push_back(SecureTask(vector_length));
    EXPECT_EQ(session_->Step(cancel_).kind,
              ClientSession::StepKind::kTaskReceived);
    return session_->Step(cancel_);
  }

  ThreeClientIdentities identities_;
  FakeTransport transport_;
  FakeTrainer trainer_{kDimension};
  FakeEvaluator evaluator_{&trainer_};
  FixedTrainerPreparer preparer_{&trainer_, &evaluator_};
  std::atomic<bool> cancel_{false};
  std::unique_ptr<ClientSession> session_;
};

TEST_F(SecureSessionEvaluationTest, MaskedInputCarriesTheReportAfterTheUpdate) {
  // SecAggClient refuses an input of any length but vector_length.
  ClientSession::StepResult r =
      TrainSecure(InputEncoder::EncodedLength(kDimension) + CodecLength());
  EXPECT_EQ(r.kind, ClientSession::StepKind::kUploading) << r.status;
  EXPECT_EQ(evaluator_.calls, 1);
  EXPECT_EQ(evaluator_.last_max_examples, 500u);
}

TEST_F(SecureSessionEvaluationTest, MaskedInputWithoutRoomForTheReportFails) {
  ClientSession::StepResult r =
      TrainSecure(InputEncoder::EncodedLength(kDimension));
  EXPECT_EQ(r.kind, ClientSession::StepKind::kFailed);
}

TEST(AppendEvalReportTest, AppendsExactlyTheCodecsEncodingAfterTheUpdate) {
  ReceivedTask task;
  task.secagg = v1::SecAggConfig();
  task.secagg->set_modulus_bits(20);
  task.encoding.set_max_clients(7);
  task.evaluation = v1::EvaluationTask();
  task.evaluation->set_max_examples(300);
  const EvalLayout layout = Layout();
  const SiteEvalReport report = FakeEvaluator::Report(layout);
  absl::StatusOr<EvalVectorCodec> codec =
      EvalVectorCodec::Create(layout, 20, 7, 300);
  ASSERT_TRUE(codec.ok()) << codec.status();
  absl::StatusOr<std::vector<uint32_t>> expected = codec->Encode(report);
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_EQ(expected->size(), codec->length());

  std::vector<uint32_t> masked_input = {5, 6, 7};
  ASSERT_TRUE(AppendEvalReport(task, layout, report, &masked_input).ok());
  ASSERT_EQ(masked_input.size(), 3 + codec->length());
  EXPECT_EQ(
      std::vector<uint32_t>(masked_input.begin(), masked_input.begin() + 3),
      (std::vector<uint32_t>{5, 6, 7}));
  EXPECT_EQ(std::vector<uint32_t>(masked_input.begin() + 3, masked_input.end()),
            *expected);
}

}  // namespace
}  // namespace fedlearn
