#include "common/dp/noise_source.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "gtest/gtest.h"

// Statistical tests run on seeded sources, so each is deterministic: a test
// passes or fails the same way every run. The stated confidence says how
// unlucky a seed would have to be for a correct implementation to fail:
// each check at 99.9% would reject a correct sampler on 0.1% of seeds.
// Chi-square critical values are the 0.999 quantiles, computed with mpmath
// (gammainc inversion); z = 3.2905 is the two-sided 99.9% normal bound.

namespace fedlearn {
namespace {

constexpr double kZ999 = 3.2905;

double ChiSquare(const std::vector<double>& observed,
                 const std::vector<double>& expected) {
  double stat = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    const double diff = observed[i] - expected[i];
    stat += diff * diff / expected[i];
  }
  return stat;
}

// Key = SHA-256("fedlearn/dp/noise_source/test-seed/v1" || LE64(42))
//     = 02958d98848e6fccd5083807d8b3f1d3769265a8ed837feffcac33fb5d804356.
// Expected words computed independently with the OpenSSL command line:
//   head -c 4112 /dev/zero |
//       openssl enc -aes-256-ctr -K <key> -iv 00000000000000000000000000000000
// read as little-endian uint64. Words 511..513 straddle the 4 KiB refill.
TEST(NoiseSourceTest, SeededStreamMatchesAes256CtrKnownAnswer) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(42);
  std::vector<uint64_t> words(514);
  for (uint64_t& w : words) w = rng.NextU64();
  EXPECT_EQ(words[0], 0x95a8b15e0ee6169bULL);
  EXPECT_EQ(words[1], 0xd54362d0dd819e76ULL);
  EXPECT_EQ(words[2], 0xca3d6bf10c4498c0ULL);
  EXPECT_EQ(words[3], 0xc3ed47c17024f2b1ULL);
  EXPECT_EQ(words[511], 0x98a301991c866f0bULL);
  EXPECT_EQ(words[512], 0x5e22a2d83c352beeULL);
  EXPECT_EQ(words[513], 0x50d8a2da092209d7ULL);
}

TEST(NoiseSourceTest, SameSeedRepeatsAndDifferentSeedsDiffer) {
  NoiseSource a = NoiseSource::FromSeedForTesting(7);
  NoiseSource b = NoiseSource::FromSeedForTesting(7);
  NoiseSource c = NoiseSource::FromSeedForTesting(8);
  int equal_to_c = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t wa = a.NextU64();
    EXPECT_EQ(wa, b.NextU64());
    equal_to_c += wa == c.NextU64();
  }
  EXPECT_EQ(equal_to_c, 0);
}

TEST(NoiseSourceTest, MovedSourceContinuesTheSameStream) {
  NoiseSource a = NoiseSource::FromSeedForTesting(9);
  NoiseSource b = NoiseSource::FromSeedForTesting(9);
  a.NextU64();
  b.NextU64();
  NoiseSource moved = std::move(a);
  EXPECT_EQ(moved.NextU64(), b.NextU64());
}

// Two 256-bit OS keys collide with probability 2^-256.
TEST(NoiseSourceTest, OsSeededSourcesDiffer) {
  absl::StatusOr<NoiseSource> a = NoiseSource::FromOsEntropy();
  absl::StatusOr<NoiseSource> b = NoiseSource::FromOsEntropy();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  std::vector<uint64_t> wa, wb;
  for (int i = 0; i < 4; ++i) {
    wa.push_back(a->NextU64());
    wb.push_back(b->NextU64());
  }
  EXPECT_NE(wa, wb);
}

// bound = 3 * 2^62. Reducing a 64-bit word modulo bound would put half the
// mass in [0, 2^62); a multiply-shift without rejection would put half on
// multiples of 3. Bin = (third of the range) x (value mod 3): 9 bins,
// expected equal up to 2^-62 relative. Chi-square, 8 df, 99.9%: 26.124.
TEST(NoiseSourceTest, UniformBelowHasNoModuloBiasChiSquare) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(1);
  constexpr uint64_t kBound = 3ULL << 62;
  constexpr int kN = 300000;
  std::vector<double> observed(9, 0);
  for (int i = 0; i < kN; ++i) {
    const uint64_t x = rng.UniformBelow(kBound);
    ASSERT_LT(x, kBound);
    observed[3 * (x >> 62) + x % 3] += 1;
  }
  EXPECT_LT(ChiSquare(observed, std::vector<double>(9, kN / 9.0)), 26.124);
}

// Small bound on the same path: 7 values, 6 df; at 99.9% the critical value
// is 22.458 (mpmath).
TEST(NoiseSourceTest, UniformBelowSmallBoundIsUniformChiSquare) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(2);
  constexpr int kN = 140000;
  std::vector<double> observed(7, 0);
  for (int i = 0; i < kN; ++i) {
    const uint64_t x = rng.UniformBelow(7);
    ASSERT_LT(x, 7u);
    observed[x] += 1;
  }
  EXPECT_LT(ChiSquare(observed, std::vector<double>(7, kN / 7.0)), 22.458);
  EXPECT_EQ(rng.UniformBelow(1), 0u);
}

// The 128-bit path, for bound = 3 * 2^126 and 3 * 2^65: same 9 bins as
// above (thirds of the range x value mod 3), 8 df, 99.9%: 26.124 each.
TEST(NoiseSourceTest, UniformBelow128HasNoModuloBiasChiSquare) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(3);
  for (const int shift : {126, 65}) {
    const uint128 third = static_cast<uint128>(1) << shift;
    const uint128 bound = 3 * third;
    constexpr int kN = 300000;
    std::vector<double> observed(9, 0);
    for (int i = 0; i < kN; ++i) {
      const uint128 x = rng.UniformBelow128(bound);
      ASSERT_LT(x, bound);
      observed[static_cast<int>(3 * (x / third) + x % 3)] += 1;
    }
    EXPECT_LT(ChiSquare(observed, std::vector<double>(9, kN / 9.0)), 26.124)
        << "bound = 3 * 2^" << shift;
  }
}

// Bounds at or below 2^64 take the 64-bit path, 2^64 itself included.
TEST(NoiseSourceTest, UniformBelow128SmallBoundsStayInRange) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(4);
  const uint128 two_to_64 = static_cast<uint128>(1) << 64;
  bool saw_high_half = false;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_LT(rng.UniformBelow128(5), 5u);
    const uint128 x = rng.UniformBelow128(two_to_64);
    EXPECT_LT(x, two_to_64);
    saw_high_half |= (x >> 63) != 0;
    EXPECT_LE(rng.UniformBelow128(two_to_64 + 1), two_to_64);
  }
  EXPECT_TRUE(saw_high_half);  // fails with probability 2^-1000
}

// 10^6 draws: all strictly inside (0, 1); the mean within z = 3.29 standard
// errors (sd 1/sqrt(12 n)); 16 equal bins, 15 df, 99.9%: 37.697.
TEST(NoiseSourceTest, UniformOpen01IsInsideTheOpenIntervalAndUniform) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(5);
  constexpr int kN = 1000000;
  std::vector<double> observed(16, 0);
  double sum = 0;
  for (int i = 0; i < kN; ++i) {
    const double u = rng.UniformOpen01();
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    observed[static_cast<int>(u * 16)] += 1;
  }
  EXPECT_NEAR(sum / kN, 0.5, kZ999 / std::sqrt(12.0 * kN));
  EXPECT_LT(ChiSquare(observed, std::vector<double>(16, kN / 16.0)), 37.697);
}

// n = 10^6 draws at stddev 2.5 (mean 0 known): sum(x^2) / stddev^2 is
// chi-square with 10^6 df, whose two-sided 99.9% interval is
// [0.995353, 1.004660] * 10^6 (mpmath). Mean within z = 3.29 standard errors.
TEST(NoiseSourceTest, GaussianVarianceAndMeanWithinConfidenceBounds) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(6);
  constexpr int kN = 1000000;
  constexpr double kStddev = 2.5;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < kN; ++i) {
    const double x = rng.Gaussian(kStddev);
    sum += x;
    sum_sq += x * x;
  }
  const double ratio = sum_sq / (kStddev * kStddev) / kN;
  EXPECT_GT(ratio, 0.995353);
  EXPECT_LT(ratio, 1.004660);
  EXPECT_NEAR(sum / kN, 0.0, kZ999 * kStddev / std::sqrt(kN));
}

// Shape, not just scale: 14 bins with edges -3, -2.5, ..., 3 (plus both
// tails) against the normal CDF. 13 df, 99.9%: 34.528.
TEST(NoiseSourceTest, GaussianMatchesNormalCdfChiSquare) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(7);
  constexpr int kN = 500000;
  auto cdf = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  std::vector<double> edges;
  for (int i = -6; i <= 6; ++i) edges.push_back(0.5 * i);
  std::vector<double> observed(edges.size() + 1, 0);
  for (int i = 0; i < kN; ++i) {
    const double x = rng.Gaussian(1.0);
    size_t bin = 0;
    while (bin < edges.size() && x >= edges[bin]) ++bin;
    observed[bin] += 1;
  }
  std::vector<double> expected;
  double previous = 0;
  for (const double edge : edges) {
    expected.push_back(kN * (cdf(edge) - previous));
    previous = cdf(edge);
  }
  expected.push_back(kN * (1 - previous));
  EXPECT_LT(ChiSquare(observed, expected), 34.528);
}

// Each coordinate gets its own draw: the added noise has the right variance
// (n = 2 * 10^5, chi-square 99.9% interval [0.989627, 1.010438]), adjacent
// coordinates are uncorrelated (|r| < 3.29 / sqrt(n), 99.9%), and adjacent
// coordinates do not receive the same draw.
TEST(NoiseSourceTest, AddGaussianAddsIndependentNoisePerCoordinate) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(8);
  constexpr int kN = 200000;
  constexpr double kStddev = 1.5;
  std::vector<float> values(kN);
  for (int i = 0; i < kN; ++i) values[i] = static_cast<float>(i % 100);
  rng.AddGaussian(absl::MakeSpan(values), kStddev);
  std::vector<double> noise(kN);
  for (int i = 0; i < kN; ++i) noise[i] = values[i] - (i % 100);
  double sum_sq = 0, lag_product = 0;
  for (int i = 0; i < kN; ++i) {
    sum_sq += noise[i] * noise[i];
    if (i + 1 < kN) lag_product += noise[i] * noise[i + 1];
  }
  const double ratio = sum_sq / (kStddev * kStddev) / kN;
  EXPECT_GT(ratio, 0.989627);
  EXPECT_LT(ratio, 1.010438);
  EXPECT_LT(std::fabs(lag_product / sum_sq), kZ999 / std::sqrt(kN));
  // Equal neighbours need both draws in one float cell (spacing <= 2^-17
  // here): ~0.4 expected; a repeated draw would give ~kN.
  int equal_neighbours = 0;
  for (int i = 0; i + 1 < kN; ++i) equal_neighbours += noise[i] == noise[i + 1];
  EXPECT_LE(equal_neighbours, 10);
}

// The float sum is formed in double and rounded once: at 1e8 (float spacing
// 8) a float-by-float addition of the rounded noise would differ.
TEST(NoiseSourceTest, AddGaussianRoundsTheDoubleSumOnce) {
  NoiseSource a = NoiseSource::FromSeedForTesting(9);
  NoiseSource b = NoiseSource::FromSeedForTesting(9);
  std::vector<float> values = {1e8f, -3.25f, 0.0f, 1e-3f, 7.0f};
  const std::vector<float> original = values;
  a.AddGaussian(absl::MakeSpan(values), 6.0);
  for (size_t i = 0; i < values.size(); ++i) {
    const double expected = static_cast<double>(original[i]) + b.Gaussian(6.0);
    EXPECT_EQ(values[i], static_cast<float>(expected)) << i;
  }
}

}  // namespace
}  // namespace fedlearn
