// Torch-free on purpose: the evaluator is exercised through ModelEvaluator.
#include "server/evaluation/torch_evaluator.h"

#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "client/training/torch_trainer.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

class TorchEvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override { SetTorchThreads(1); }
};

ModelSource Logreg2x2() {
  ModelSource source;
  source.architecture = "logreg";
  source.input_shape = {2};
  source.num_classes = 2;
  return source;
}

// Four points; with identity weights the logits are the features themselves,
// so the prediction is the larger coordinate: (2, 0) labelled 1 is the one
// miss.
Dataset FourPoints() {
  Dataset data;
  data.sample_shape = {2};
  data.num_classes = 2;
  data.features = {1, 0, 0, 1, 2, 0, 0, 3};
  data.labels = {0, 1, 1, 1};
  return data;
}

// Spec order: linear.weight [2, 2] row-major, then linear.bias [2].
FlatVector IdentityWeights(float bias0, float bias1) {
  return FlatVector({1, 0, 0, 1, bias0, bias1});
}

double CrossEntropy(double logit0, double logit1, int label) {
  const double logsumexp = std::log(std::exp(logit0) + std::exp(logit1));
  return logsumexp - (label == 0 ? logit0 : logit1);
}

TEST_F(TorchEvaluatorTest, IdentityLogregHasKnownAccuracyAndLoss) {
  auto evaluator = TorchEvaluator::Create(Logreg2x2(), FourPoints());
  ASSERT_TRUE(evaluator.ok()) << evaluator.status();
  ASSERT_EQ((*evaluator)->Spec().NumElements(), 6);
  absl::StatusOr<EvalMetrics> metrics =
      (*evaluator)->Evaluate(IdentityWeights(0, 0));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->num_examples, 4u);
  EXPECT_DOUBLE_EQ(metrics->accuracy, 0.75);
  const double expected_loss = (CrossEntropy(1, 0, 0) + CrossEntropy(0, 1, 1) +
                                CrossEntropy(2, 0, 1) + CrossEntropy(0, 3, 1)) /
                               4;
  EXPECT_NEAR(metrics->loss, expected_loss, 1e-5);
}

TEST_F(TorchEvaluatorTest, BiasThatForcesClassZeroScoresItsFrequency) {
  auto evaluator = TorchEvaluator::Create(Logreg2x2(), FourPoints());
  ASSERT_TRUE(evaluator.ok());
  absl::StatusOr<EvalMetrics> metrics =
      (*evaluator)->Evaluate(IdentityWeights(10, 0));
  ASSERT_TRUE(metrics.ok());
  EXPECT_DOUBLE_EQ(metrics->accuracy, 0.25);
}

TEST_F(TorchEvaluatorTest, BatchSizeDoesNotChangeTheMetrics) {
  auto whole = TorchEvaluator::Create(Logreg2x2(), FourPoints());
  auto by_three = TorchEvaluator::Create(Logreg2x2(), FourPoints(), 3);
  ASSERT_TRUE(whole.ok() && by_three.ok());
  auto a = (*whole)->Evaluate(IdentityWeights(0.3f, -0.2f));
  auto b = (*by_three)->Evaluate(IdentityWeights(0.3f, -0.2f));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_DOUBLE_EQ(a->accuracy, b->accuracy);
  EXPECT_NEAR(a->loss, b->loss, 1e-6);
  EXPECT_EQ(a->num_examples, b->num_examples);
}

TEST_F(TorchEvaluatorTest, WrongParameterCountIsInvalidArgument) {
  auto evaluator = TorchEvaluator::Create(Logreg2x2(), FourPoints());
  ASSERT_TRUE(evaluator.ok());
  EXPECT_EQ((*evaluator)->Evaluate(FlatVector(5)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TorchEvaluatorTest, UnusableSetupsAreRefusedAtCreate) {
  Dataset empty = FourPoints();
  empty.features.clear();
  empty.labels.clear();
  EXPECT_EQ(
      TorchEvaluator::Create(Logreg2x2(), std::move(empty)).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      TorchEvaluator::Create(Logreg2x2(), FourPoints(), 0).status().code(),
      absl::StatusCode::kInvalidArgument);
  ModelSource wide = Logreg2x2();
  wide.input_shape = {3};
  EXPECT_EQ(TorchEvaluator::Create(wide, FourPoints()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedlearn
