// The robust aggregators against hand-built inputs: coordinate median,
// trimmed mean (Yin et al. 2018), Krum and Multi-Krum (Blanchard et al.
// 2017), and their refusals.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/round/coordinate_median.h"
#include "server/round/krum.h"
#include "server/round/trimmed_mean.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::HasSubstr;

std::vector<absl::Span<const float>> Views(
    const std::vector<std::vector<float>>& updates) {
  std::vector<absl::Span<const float>> views;
  for (const auto& u : updates) views.push_back(u);
  return views;
}

// Four honest clients on a line and one sending 1e6 / -1e6.
const std::vector<std::vector<float>> kWithOutlier = {
    {1, 2}, {2, 3}, {1e6f, -1e6f}, {3, 4}, {4, 5}};

TEST(RobustAggregationTest, TheMeanMovesWithOneOutlierTheRobustRulesDoNot) {
  // What FedAvg (unweighted here) would release: dragged to ~2e5.
  double mean0 = 0;
  for (const auto& u : kWithOutlier) mean0 += u[0] / 5.0;
  EXPECT_GT(mean0, 1e5);

  absl::StatusOr<std::vector<float>> median =
      CoordinateMedian(Views(kWithOutlier));
  ASSERT_TRUE(median.ok()) << median.status();
  EXPECT_THAT(*median, ElementsAre(3.0f, 3.0f));

  // beta = 0.2 of 5: one value cut from each end of every coordinate.
  absl::StatusOr<std::vector<float>> trimmed =
      TrimmedMean(Views(kWithOutlier), 0.2);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  EXPECT_THAT(*trimmed, ElementsAre(3.0f, 3.0f));

  absl::StatusOr<KrumSelection> krum = MultiKrum(Views(kWithOutlier), 1, 1);
  ASSERT_TRUE(krum.ok()) << krum.status();
  // Scores (2 nearest): 2+8, 2+2, huge, 2+2, 2+8; the tie goes to index 1.
  EXPECT_THAT(krum->selected, ElementsAre(1u));
  EXPECT_THAT(krum->aggregate, ElementsAre(2.0f, 3.0f));
}

TEST(RobustAggregationTest, MedianOfAnEvenCountIsTheMeanOfTheMiddleTwo) {
  absl::StatusOr<std::vector<float>> median =
      CoordinateMedian(Views({{1, -1}, {10, 7}, {2, 0}, {3, 100}}));
  ASSERT_TRUE(median.ok());
  // {1,2,3,10} -> 2.5; {-1,0,7,100} -> 3.5.
  EXPECT_THAT(*median, ElementsAre(2.5f, 3.5f));
}

TEST(RobustAggregationTest, TrimmedMeanCutsFloorBetaNFromEachEnd) {
  // n = 6, beta = 0.3: floor(1.8) = 1 per side, so {0, 9} go and the mean of
  // {1, 2, 3, 4} = 2.5 remains.
  EXPECT_EQ(TrimmedPerSide(6, 0.3), 1u);
  absl::StatusOr<std::vector<float>> trimmed =
      TrimmedMean(Views({{9}, {1}, {2}, {0}, {3}, {4}}), 0.3);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_THAT(*trimmed, ElementsAre(2.5f));
  // beta = 0: nothing trimmed, the unweighted mean.
  trimmed = TrimmedMean(Views({{9}, {1}, {2}, {0}, {3}, {4}}), 0.0);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_THAT(*trimmed, ElementsAre(FloatEq(19.0f / 6)));
}

TEST(RobustAggregationTest, TrimmedMeanEqualsTheSortedDefinitionOverSeeds) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    const size_t n = 3 + seed % 9;
    const double beta = 0.05 * (seed % 10);
    std::uniform_int_distribution<int> value(-50, 50);
    std::vector<std::vector<float>> updates(n, std::vector<float>(7));
    for (auto& u : updates) {
      for (float& x : u) x = static_cast<float>(value(rng));
    }
    absl::StatusOr<std::vector<float>> trimmed =
        TrimmedMean(Views(updates), beta);
    ASSERT_TRUE(trimmed.ok()) << trimmed.status();
    const size_t k = static_cast<size_t>(std::floor(beta * n));
    for (size_t i = 0; i < 7; ++i) {
      std::vector<float> column;
      for (const auto& u : updates) column.push_back(u[i]);
      std::sort(column.begin(), column.end());
      double sum = 0;
      for (size_t c = k; c < n - k; ++c) sum += column[c];
      EXPECT_FLOAT_EQ((*trimmed)[i], static_cast<float>(sum / (n - 2 * k)))
          << "seed " << seed << " coordinate " << i;
    }
  }
}

TEST(RobustAggregationTest, TrimmedMeanRefusesAFractionThatLeavesNothing) {
  for (double beta : {0.5, 0.7, -0.1}) {
    absl::StatusOr<std::vector<float>> trimmed =
        TrimmedMean(Views({{1}, {2}, {3}, {4}}), beta);
    EXPECT_TRUE(absl::IsInvalidArgument(trimmed.status())) << beta;
    EXPECT_THAT(trimmed.status().message(), HasSubstr("[0, 0.5)"));
  }
}

// Squared distances: ab 1, ac 4, ad 8, bc 5, bd 5, cd 4; e is far away.
// With f = 1 each score sums the n - f - 2 = 2 nearest: a 5, b 6, c 8, d 9.
const std::vector<std::vector<float>> kGeometry = {
    {2, 2} /*d*/, {100, 100} /*e*/, {1, 0} /*b*/, {0, 0} /*a*/, {0, 2} /*c*/};

TEST(RobustAggregationTest, KrumPicksTheUpdateWithTheLowestScore) {
  absl::StatusOr<KrumSelection> krum = MultiKrum(Views(kGeometry), 1, 1);
  ASSERT_TRUE(krum.ok()) << krum.status();
  // e: 98^2 * 2 (to d) + 100^2 + 98^2 (to c) = 19208 + 19604.
  EXPECT_THAT(krum->scores, ElementsAre(9.0, 38812.0, 6.0, 5.0, 8.0));
  EXPECT_THAT(krum->selected, ElementsAre(3u));
  EXPECT_THAT(krum->aggregate, ElementsAre(0.0f, 0.0f));
}

TEST(RobustAggregationTest, MultiKrumAveragesTheMBestScored) {
  absl::StatusOr<KrumSelection> multi = MultiKrum(Views(kGeometry), 1, 3);
  ASSERT_TRUE(multi.ok()) << multi.status();
  EXPECT_THAT(multi->selected, ElementsAre(3u, 2u, 4u));  // a, b, c
  EXPECT_THAT(multi->aggregate,
              ElementsAre(FloatEq(1.0f / 3), FloatEq(2.0f / 3)));
}

TEST(RobustAggregationTest, KrumRefusesNAtMostTwoFPlusTwo) {
  // n = 4, f = 1: 4 <= 2f + 2.
  absl::StatusOr<KrumSelection> krum =
      MultiKrum(Views({{0}, {1}, {2}, {3}}), 1, 1);
  EXPECT_TRUE(absl::IsFailedPrecondition(krum.status()));
  EXPECT_THAT(krum.status().message(),
              HasSubstr("needs more than 2f+2 = 4 updates"));
  EXPECT_TRUE(CheckKrumCohort(5, 1).ok());
  EXPECT_FALSE(CheckKrumCohort(6, 2).ok());
  EXPECT_TRUE(CheckKrumCohort(7, 2).ok());
}

TEST(RobustAggregationTest, MultiKrumRefusesToSelectMoreThanNMinusF) {
  absl::StatusOr<KrumSelection> multi = MultiKrum(Views(kGeometry), 1, 5);
  EXPECT_TRUE(absl::IsFailedPrecondition(multi.status()));
  EXPECT_THAT(multi.status().message(), HasSubstr("n - f = 4"));
  EXPECT_FALSE(MultiKrum(Views(kGeometry), 1, 0).ok());
}

TEST(RobustAggregationTest, EveryRuleRefusesAnEmptyOrRaggedSet) {
  const std::vector<std::vector<float>> ragged = {{1, 2}, {3}};
  EXPECT_TRUE(absl::IsInvalidArgument(CoordinateMedian({}).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(CoordinateMedian(Views(ragged)).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(TrimmedMean(Views(ragged), 0.1).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(MultiKrum({}, 0, 1).status()));
}

}  // namespace
}  // namespace fedlearn
