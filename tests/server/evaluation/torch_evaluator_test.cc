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

// `n` points on a circle, labelled by the sign of their second coordinate
// except every seventh, so both classes and some misses occur.
Dataset CirclePoints(int n) {
  Dataset data;
  data.sample_shape = {2};
  data.num_classes = 2;
  for (int i = 0; i < n; ++i) {
    const double angle = 0.37 * i;
    data.features.push_back(static_cast<float>(std::cos(angle)));
    data.features.push_back(static_cast<float>(std::sin(angle)));
    data.labels.push_back((std::sin(angle) > 0) != (i % 7 == 0) ? 1 : 0);
  }
  return data;
}

// A batch larger than the evaluator's forward chunk (250 rows) is evaluated
// in several forward calls; the metrics stay those of the whole batch.
TEST_F(TorchEvaluatorTest, BatchLargerThanAForwardChunkHasKnownMetrics) {
  const int n = 601;
  const Dataset data = CirclePoints(n);
  auto evaluator = TorchEvaluator::Create(Logreg2x2(), data, /*batch=*/n);
  ASSERT_TRUE(evaluator.ok()) << evaluator.status();
  absl::StatusOr<EvalMetrics> metrics =
      (*evaluator)->Evaluate(IdentityWeights(0.1f, 0));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  double loss = 0;
  int correct = 0;
  for (int i = 0; i < n; ++i) {
    const double l0 = data.features[2 * i] + double{0.1f};
    const double l1 = data.features[2 * i + 1];
    loss += CrossEntropy(l0, l1, data.labels[i]);
    correct += ((l1 > l0 ? 1 : 0) == data.labels[i]);
  }
  EXPECT_EQ(metrics->num_examples, static_cast<uint64_t>(n));
  EXPECT_DOUBLE_EQ(metrics->accuracy, static_cast<double>(correct) / n);
  EXPECT_NEAR(metrics->loss, loss / n, 1e-5);
}

// Deterministic, non-trivial parameters for `count` values.
FlatVector Wavy(int64_t count, double phase = 0.1) {
  std::vector<float> values(count);
  for (int64_t i = 0; i < count; ++i) {
    values[i] = 0.2f * static_cast<float>(std::sin(0.7 * i + phase));
  }
  return FlatVector(std::move(values));
}

ModelSource Lenet5() {
  ModelSource lenet;
  lenet.architecture = "lenet5";
  lenet.input_shape = {1, 28, 28};
  lenet.num_classes = 10;
  return lenet;
}

// `n` deterministic 28x28 images labelled i % 10.
Dataset SinImages(int n) {
  Dataset images;
  images.sample_shape = {1, 28, 28};
  images.num_classes = 10;
  for (int i = 0; i < n * 28 * 28; ++i) {
    images.features.push_back(static_cast<float>(std::sin(0.013 * i * i)));
  }
  for (int i = 0; i < n; ++i) images.labels.push_back(i % 10);
  return images;
}

// The evaluator's LeNet-5 (channels-last convolution weights, forward in
// chunks) scores what an independent float64 PyTorch forward scores:
//   net = nn.Sequential(nn.Conv2d(1,6,5,padding=2), nn.ReLU(),
//     nn.MaxPool2d(2), nn.Conv2d(6,16,5), nn.ReLU(), nn.MaxPool2d(2),
//     nn.Flatten(), nn.Linear(400,120), nn.ReLU(), nn.Linear(120,84),
//     nn.ReLU(), nn.Linear(84,10)).double().eval()
//   vals = (np.float32(0.2) * np.sin(0.7 * np.arange(61706) + 0.1)
//           .astype(np.float32)).astype(np.float64)   # copied in order
//   i = np.arange(90 * 784, dtype=np.float64)
//   x = np.sin(0.013 * i * i).astype(np.float32).reshape(90, 1, 28, 28)
//   F.cross_entropy(net(x), torch.arange(90) % 10)  -> 2.393141574166708
//   (every prediction is class 7: accuracy 0.1)
TEST_F(TorchEvaluatorTest, Lenet5HasTheMetricsOfAnIndependentForward) {
  auto evaluator = TorchEvaluator::Create(Lenet5(), SinImages(90), /*batch=*/7);
  ASSERT_TRUE(evaluator.ok()) << evaluator.status();
  ASSERT_EQ((*evaluator)->Spec().NumElements(), 61706);
  auto metrics = (*evaluator)->Evaluate(Wavy(61706));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NEAR(metrics->loss, 2.393141574166708, 1e-5);
  EXPECT_DOUBLE_EQ(metrics->accuracy, 0.1);
}

// Batches are summed in their order whatever thread ran them: the metrics
// are bit for bit those of one thread.
TEST_F(TorchEvaluatorTest, ThreadCountDoesNotChangeTheMetrics) {
  const int n = 90;
  auto one = TorchEvaluator::Create(Lenet5(), SinImages(n), /*batch=*/7,
                                    /*threads=*/1);
  auto four = TorchEvaluator::Create(Lenet5(), SinImages(n), 7, /*threads=*/4);
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(four.ok()) << four.status();
  for (int repeat = 0; repeat < 3; ++repeat) {
    const FlatVector params = Wavy((*one)->Spec().NumElements(), 0.1 + repeat);
    auto a = (*one)->Evaluate(params);
    auto b = (*four)->Evaluate(params);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->loss, b->loss);
    EXPECT_EQ(a->accuracy, b->accuracy);
    EXPECT_EQ(b->num_examples, static_cast<uint64_t>(n));
  }
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
