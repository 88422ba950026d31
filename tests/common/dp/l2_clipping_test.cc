#include "common/dp/l2_clipping.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

TEST(L2ClippingTest, ClippingHoldsForEveryUpdateOverManyRandomVectors) {
  std::mt19937 rng(5);  // test data only; no DP noise comes from here
  std::lognormal_distribution<double> scale(0.0, 3.0);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<float> v(1 + trial % 257);
    const double s = scale(rng);
    for (float& x : v) x = static_cast<float>(normal(rng) * s);
    const std::vector<float> before = v;
    const double c = std::exp(normal(rng));
    absl::StatusOr<ClipOutcome> out = ClipToL2Norm(absl::MakeSpan(v), c);
    ASSERT_TRUE(out.ok());
    const double after = L2Norm(v);
    ASSERT_LE(after, c * (1 + 1e-6)) << trial;
    EXPECT_EQ(out->clipped, out->norm_before > c);
    if (!out->clipped) {
      EXPECT_EQ(v, before);
    } else {
      // Same direction, norm within float rounding of C.
      EXPECT_NEAR(after, c, c * 1e-5);
      double dot = 0;
      for (size_t i = 0; i < v.size(); ++i) dot += double(v[i]) * before[i];
      EXPECT_NEAR(dot / (after * out->norm_before), 1.0, 1e-5);
    }
  }
}

TEST(L2ClippingTest, NormAtExactlyTheBoundIsNotClipped) {
  std::vector<float> v = {3.0f, 4.0f};
  absl::StatusOr<ClipOutcome> out = ClipToL2Norm(absl::MakeSpan(v), 5.0);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->clipped);
  EXPECT_DOUBLE_EQ(out->norm_before, 5.0);
  EXPECT_EQ(v, (std::vector<float>{3.0f, 4.0f}));
}

TEST(L2ClippingTest, RefusesNonFiniteValuesAndBadNormsLeavingTheUpdate) {
  std::vector<float> v = {1.0f, std::nanf(""), 2.0f};
  EXPECT_FALSE(ClipToL2Norm(absl::MakeSpan(v), 1.0).ok());
  EXPECT_EQ(v[0], 1.0f);
  std::vector<float> w = {1.0f, INFINITY};
  EXPECT_FALSE(ClipToL2Norm(absl::MakeSpan(w), 1.0).ok());
  std::vector<float> u = {10.0f};
  for (double c : {0.0, -1.0, double(NAN), double(INFINITY)}) {
    EXPECT_FALSE(ClipToL2Norm(absl::MakeSpan(u), c).ok()) << c;
    EXPECT_EQ(u[0], 10.0f);
  }
}

TEST(L2ClippingTest, LargeVectorNormIsAccumulatedInDouble) {
  // 1e6 values of 1e-3: norm 1; float accumulation would drift.
  std::vector<float> v(1000000, 1e-3f);
  EXPECT_NEAR(L2Norm(v), 1.0, 1e-6);
}

}  // namespace
}  // namespace fedlearn
