#include "server/round/fedavg_aggregator.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

// Reference FedAvg in double: sum_i w_i x_i / sum_i w_i. Also returns, per
// coordinate, sum_i w_i |x_i| / W, the scale against which float rounding in
// the aggregator is judged (a mean near zero by cancellation has no relative
// accuracy to speak of).
struct Reference {
  std::vector<double> mean;
  std::vector<double> scale;
};

Reference ReferenceMean(const std::vector<std::vector<float>>& updates,
                        const std::vector<double>& weights) {
  const size_t d = updates.front().size();
  Reference ref{std::vector<double>(d, 0.0), std::vector<double>(d, 0.0)};
  double total = 0.0;
  for (size_t k = 0; k < updates.size(); ++k) {
    total += weights[k];
    for (size_t i = 0; i < d; ++i) {
      ref.mean[i] += weights[k] * static_cast<double>(updates[k][i]);
      ref.scale[i] +=
          weights[k] * std::fabs(static_cast<double>(updates[k][i]));
    }
  }
  for (size_t i = 0; i < d; ++i) {
    ref.mean[i] /= total;
    ref.scale[i] /= total;
  }
  return ref;
}

TEST(FedAvgAggregatorTest, KnownAnswerForTwoWeightedUpdates) {
  FedAvgAggregator agg(3);
  const std::vector<float> a = {1.0f, 2.0f, -4.0f};
  const std::vector<float> b = {4.0f, -1.0f, 8.0f};
  ASSERT_TRUE(agg.Add(a, 1.0).ok());
  ASSERT_TRUE(agg.Add(b, 2.0).ok());
  absl::StatusOr<FlatVector> mean = agg.WeightedMean();
  ASSERT_TRUE(mean.ok()) << mean.status();
  // (1*a + 2*b) / 3
  EXPECT_FLOAT_EQ((*mean)[0], 3.0f);
  EXPECT_FLOAT_EQ((*mean)[1], 0.0f);
  EXPECT_FLOAT_EQ((*mean)[2], 4.0f);
  EXPECT_EQ(agg.count(), 2u);
  EXPECT_DOUBLE_EQ(agg.total_weight(), 3.0);
}

TEST(FedAvgAggregatorTest,
     WeightedMeanMatchesDoublePrecisionReferenceOverManySeeds) {
  for (uint32_t seed = 1; seed <= 25; ++seed) {
    std::mt19937 rng(seed);
    const size_t dim = std::uniform_int_distribution<size_t>(1, 2000)(rng);
    const int clients = std::uniform_int_distribution<int>(1, 40)(rng);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> examples(1, 5000);

    std::vector<std::vector<float>> updates(clients, std::vector<float>(dim));
    std::vector<double> weights(clients);
    FedAvgAggregator agg(dim);
    for (int k = 0; k < clients; ++k) {
      for (float& v : updates[k]) v = normal(rng);
      weights[k] = examples(rng);
      ASSERT_TRUE(agg.Add(updates[k], weights[k]).ok());
    }
    const Reference ref = ReferenceMean(updates, weights);
    absl::StatusOr<FlatVector> mean = agg.WeightedMean();
    ASSERT_TRUE(mean.ok()) << mean.status();
    ASSERT_EQ(mean->size(), dim);
    for (size_t i = 0; i < dim; ++i) {
      ASSERT_NEAR((*mean)[i], ref.mean[i], 1e-5 * ref.scale[i] + 1e-30)
          << "seed " << seed << " index " << i << " of " << dim << ", "
          << clients << " clients";
    }
  }
}

TEST(FedAvgAggregatorTest, EqualWeightsGiveThePlainMean) {
  FedAvgAggregator agg(2);
  ASSERT_TRUE(agg.Add(std::vector<float>{1.0f, 10.0f}, 7.0).ok());
  ASSERT_TRUE(agg.Add(std::vector<float>{3.0f, 20.0f}, 7.0).ok());
  ASSERT_TRUE(agg.Add(std::vector<float>{5.0f, 30.0f}, 7.0).ok());
  absl::StatusOr<FlatVector> mean = agg.WeightedMean();
  ASSERT_TRUE(mean.ok());
  EXPECT_FLOAT_EQ((*mean)[0], 3.0f);
  EXPECT_FLOAT_EQ((*mean)[1], 20.0f);
}

TEST(FedAvgAggregatorTest, WrongLengthIsInvalidArgumentAndLeavesSumUntouched) {
  FedAvgAggregator agg(3);
  ASSERT_TRUE(agg.Add(std::vector<float>{1.0f, 2.0f, 3.0f}, 2.0).ok());
  for (size_t len : {0u, 2u, 4u}) {
    absl::Status s = agg.Add(std::vector<float>(len, 100.0f), 5.0);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "length " << len;
  }
  EXPECT_EQ(agg.count(), 1u);
  EXPECT_DOUBLE_EQ(agg.total_weight(), 2.0);
  absl::StatusOr<FlatVector> mean = agg.WeightedMean();
  ASSERT_TRUE(mean.ok());
  EXPECT_FLOAT_EQ((*mean)[0], 1.0f);
  EXPECT_FLOAT_EQ((*mean)[1], 2.0f);
  EXPECT_FLOAT_EQ((*mean)[2], 3.0f);
}

TEST(FedAvgAggregatorTest, RejectsWeightsThatAreNotPositiveAndFinite) {
  FedAvgAggregator agg(2);
  ASSERT_TRUE(agg.Add(std::vector<float>{4.0f, -4.0f}, 1.0).ok());
  const std::vector<float> poison = {1000.0f, 1000.0f};
  for (double w :
       {0.0, -0.0, -1.0, -1e-300, std::numeric_limits<double>::quiet_NaN(),
        std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    absl::Status s = agg.Add(poison, w);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "weight " << w;
  }
  EXPECT_EQ(agg.count(), 1u);
  EXPECT_DOUBLE_EQ(agg.total_weight(), 1.0);
  absl::StatusOr<FlatVector> mean = agg.WeightedMean();
  ASSERT_TRUE(mean.ok());
  EXPECT_FLOAT_EQ((*mean)[0], 4.0f);
  EXPECT_FLOAT_EQ((*mean)[1], -4.0f);
}

TEST(FedAvgAggregatorTest, WeightedMeanOfNothingIsFailedPrecondition) {
  FedAvgAggregator agg(4);
  EXPECT_EQ(agg.WeightedMean().status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Rejected adds do not count as something.
  ASSERT_FALSE(agg.Add(std::vector<float>(4, 1.0f), 0.0).ok());
  EXPECT_EQ(agg.WeightedMean().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(FedAvgAggregatorTest, ResetForgetsEverythingAddedBefore) {
  FedAvgAggregator agg(2);
  ASSERT_TRUE(agg.Add(std::vector<float>{100.0f, -100.0f}, 50.0).ok());
  agg.Reset();
  EXPECT_EQ(agg.count(), 0u);
  EXPECT_DOUBLE_EQ(agg.total_weight(), 0.0);
  EXPECT_EQ(agg.dimension(), 2u);
  EXPECT_EQ(agg.WeightedMean().status().code(),
            absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(agg.Add(std::vector<float>{1.0f, 2.0f}, 3.0).ok());
  absl::StatusOr<FlatVector> mean = agg.WeightedMean();
  ASSERT_TRUE(mean.ok());
  EXPECT_FLOAT_EQ((*mean)[0], 1.0f);
  EXPECT_FLOAT_EQ((*mean)[1], 2.0f);
}

}  // namespace
}  // namespace fedlearn

namespace fedlearn {
namespace {

TEST(FedAvgAggregatorApplyTest, AddWeightedMeanToEqualsTargetPlusScaledMean) {
  FedAvgAggregator agg(3);
  ASSERT_TRUE(agg.Add(std::vector<float>{1, 2, 3}, 1).ok());
  ASSERT_TRUE(agg.Add(std::vector<float>{4, 5, 6}, 3).ok());
  // mean = (1*[1,2,3] + 3*[4,5,6]) / 4 = [3.25, 4.25, 5.25]
  std::vector<float> target = {10, 20, 30};
  ASSERT_TRUE(agg.AddWeightedMeanTo(absl::MakeSpan(target), 2.0).ok());
  EXPECT_FLOAT_EQ(target[0], 16.5f);
  EXPECT_FLOAT_EQ(target[1], 28.5f);
  EXPECT_FLOAT_EQ(target[2], 40.5f);
  std::vector<float> wrong(2);
  EXPECT_EQ(agg.AddWeightedMeanTo(absl::MakeSpan(wrong), 1.0).code(),
            absl::StatusCode::kInvalidArgument);
  FedAvgAggregator empty(3);
  EXPECT_EQ(empty.AddWeightedMeanTo(absl::MakeSpan(target), 1.0).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(FedAvgAggregatorTakeSumTest, HandsOverTheWeightedSumAndNeedsAReset) {
  FedAvgAggregator agg(3);
  ASSERT_TRUE(agg.Add(std::vector<float>{1, 2, 3}, 2.0).ok());
  ASSERT_TRUE(agg.Add(std::vector<float>{-1, 0, 0.5f}, 1.0).ok());
  EXPECT_EQ(agg.TakeSum(), (std::vector<float>{1, 4, 6.5f}));
  EXPECT_EQ(agg.count(), 0u);
  EXPECT_EQ(agg.dimension(), 3u);
  EXPECT_FALSE(agg.Add(std::vector<float>{1, 1, 1}, 1.0).ok());
  agg.Reset();
  ASSERT_TRUE(agg.Add(std::vector<float>{1, 1, 1}, 1.0).ok());
  EXPECT_EQ(agg.TakeSum(), (std::vector<float>{1, 1, 1}));
}

}  // namespace
}  // namespace fedlearn

namespace fedlearn {
namespace {

// Float32 tops out at ~3.4e38: a weighted float sum of two such values is
// infinite, although their mean is not. The running sum is in double.
TEST(FedAvgAggregatorOverflowTest, SumBeyondFloatRangeStillGivesAFiniteMean) {
  const float big = 3.0e38f;
  FedAvgAggregator agg(2);
  ASSERT_TRUE(agg.Add(std::vector<float>{big, -big}, 10.0).ok());
  ASSERT_TRUE(agg.Add(std::vector<float>{big, 1.0f}, 10.0).ok());
  absl::StatusOr<FlatVector> mean = agg.WeightedMean();
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_FLOAT_EQ((*mean)[0], big);
  EXPECT_FLOAT_EQ((*mean)[1], (-big + 1.0f) / 2);
  absl::StatusOr<std::vector<float>> taken = agg.TakeMean();
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_FLOAT_EQ((*taken)[0], big);
  EXPECT_EQ(agg.count(), 0u);
  EXPECT_EQ(agg.TakeMean().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fedlearn
