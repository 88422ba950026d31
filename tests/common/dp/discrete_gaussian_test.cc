#include "common/dp/discrete_gaussian.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "common/dp/noise_source.h"
#include "gtest/gtest.h"

// Statistical tests run on seeded sources, so each is deterministic: it
// passes or fails the same way every run. The confidence stated with each
// check says how unlucky a seed would have to be to fail a correct sampler:
// a check at 99.9% (p-value > 1e-3, or z = 3.29) rejects a correct sampler
// on 0.1% of seeds; the binomial checks use z = 4 (6.3e-5 each).

namespace fedlearn {
namespace {

constexpr double kZ999 = 3.2905;  // two-sided 99.9% normal bound
constexpr double kMinPValue = 1e-3;

// Regularized upper incomplete gamma Q(a, x): series below a + 1, Lentz's
// continued fraction above (Numerical Recipes, 3rd ed., 6.2).
double UpperGammaQ(double a, double x) {
  if (x <= 0) return 1.0;
  const double log_prefactor = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 100000 && term > sum * 1e-16; ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return 1.0 - sum * std::exp(log_prefactor);
  }
  constexpr double kTiny = 1e-300;
  double b = x + 1 - a, c = 1 / kTiny, d = 1 / b, h = d;
  for (int i = 1; i < 100000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-16) break;
  }
  return std::exp(log_prefactor) * h;
}

// P[chi-square with df degrees of freedom >= stat].
double ChiSquarePValue(double stat, int df) {
  return UpperGammaQ(df / 2.0, stat / 2.0);
}

// Chi-square goodness of fit of integer samples to `pmf`, whose mass lies
// within [-radius, radius] up to a negligible remainder. Integers expecting
// >= 5 samples are their own bins; the rest of each side is pooled into a
// tail bin, folded into its neighbour if it still expects < 5.
double GoodnessOfFitPValue(const std::vector<int64_t>& samples,
                           const std::function<double(int64_t)>& pmf,
                           int64_t radius) {
  const double n = static_cast<double>(samples.size());
  int64_t lo = -radius, hi = radius;
  while (lo < hi && n * pmf(lo) < 5) ++lo;
  while (hi > lo && n * pmf(hi) < 5) --hi;
  double left_tail = 0, right_tail = 0;
  for (int64_t x = -radius; x < lo; ++x) left_tail += pmf(x);
  for (int64_t x = radius; x > hi; --x) right_tail += pmf(x);
  // bins[0] = left tail, bins[1 + x - lo] = x, bins.back() = right tail.
  const size_t bins = static_cast<size_t>(hi - lo + 3);
  std::vector<double> expected(bins), observed(bins, 0);
  expected[0] = n * left_tail;
  for (int64_t x = lo; x <= hi; ++x) expected[1 + x - lo] = n * pmf(x);
  expected[bins - 1] = n * right_tail;
  for (const int64_t x : samples) {
    const size_t bin = x < lo ? 0 : x > hi ? bins - 1 : 1 + (x - lo);
    observed[bin] += 1;
  }
  if (expected[0] < 5) {
    expected[1] += expected[0];
    observed[1] += observed[0];
    expected[0] = observed[0] = 0;
  }
  if (expected[bins - 1] < 5) {
    expected[bins - 2] += expected[bins - 1];
    observed[bins - 2] += observed[bins - 1];
    expected[bins - 1] = observed[bins - 1] = 0;
  }
  double stat = 0;
  int used = 0;
  for (size_t i = 0; i < bins; ++i) {
    if (expected[i] == 0) continue;
    const double diff = observed[i] - expected[i];
    stat += diff * diff / expected[i];
    ++used;
  }
  return ChiSquarePValue(stat, used - 1);
}

// The exact pmf of N_Z(0, sigma^2), normalized over |x| <= radius (the mass
// beyond 40 sigma is below e^-800 of the total).
std::function<double(int64_t)> DiscreteGaussianPmf(double sigma_sq,
                                                   int64_t* radius) {
  *radius = static_cast<int64_t>(std::ceil(40 * std::sqrt(sigma_sq))) + 10;
  long double norm = 0;
  for (int64_t x = -*radius; x <= *radius; ++x) {
    norm += std::exp(-static_cast<long double>(x) * x / (2 * sigma_sq));
  }
  return [sigma_sq, norm](int64_t x) {
    return static_cast<double>(
        std::exp(-static_cast<long double>(x) * x / (2 * sigma_sq)) / norm);
  };
}

DiscreteGaussianSampler MustCreate(uint64_t num, uint64_t den) {
  absl::StatusOr<DiscreteGaussianSampler> s =
      DiscreteGaussianSampler::Create(num, den);
  EXPECT_TRUE(s.ok()) << num << "/" << den << ": " << s.status();
  return *std::move(s);
}

uint128 Pow2(int k) { return static_cast<uint128>(1) << k; }

// The helper itself, against chi-square quantiles from mpmath.
TEST(DiscreteGaussianTest, ChiSquarePValueMatchesKnownQuantiles) {
  EXPECT_NEAR(ChiSquarePValue(26.124482, 8), 1e-3, 1e-7);
  EXPECT_NEAR(ChiSquarePValue(2.7326368, 8), 0.95, 1e-6);
  EXPECT_NEAR(ChiSquarePValue(10.827566, 1), 1e-3, 1e-7);
  EXPECT_NEAR(ChiSquarePValue(1118.9480, 1000), 5e-3, 1e-6);
}

// Bernoulli(exp(-x/y)) for gamma in {0, 1/3, 1, 5/2, 7}, with small and with
// ~2^126 denominators (where y * k overflows 128 bits and the draw is
// split). 10^6 trials each; the count is within z = 4 binomial standard
// deviations of n exp(-gamma) (two-sided 6.3e-5 per case, < 6e-4 for all 9).
TEST(DiscreteGaussianTest,
     BernoulliExpMinusGammaMatchesExpWithinBinomialBounds) {
  struct Case {
    uint128 x, y;
    double gamma;
  };
  const std::vector<Case> cases = {
      {0, 1, 0.0},
      {1, 3, 1.0 / 3},
      {Pow2(126), 3 * Pow2(126), 1.0 / 3},
      {1, 1, 1.0},
      {Pow2(127), Pow2(127), 1.0},
      {5, 2, 2.5},
      {5 * Pow2(124), Pow2(125), 2.5},
      {7, 1, 7.0},
      {7 * Pow2(120), Pow2(120), 7.0},
  };
  NoiseSource rng = NoiseSource::FromSeedForTesting(101);
  constexpr int kN = 1000000;
  for (const Case& c : cases) {
    int successes = 0;
    for (int i = 0; i < kN; ++i) {
      successes += BernoulliExpMinusForTesting(c.x, c.y, rng);
    }
    const double p = std::exp(-c.gamma);
    const double sd = std::sqrt(kN * p * (1 - p));
    EXPECT_LE(std::fabs(successes - kN * p), 4 * sd + 1e-9)
        << "gamma = " << c.gamma << ", y = 2^"
        << std::log2(static_cast<double>(c.y));
  }
}

// gamma = 2^127 must answer 0 (probability e^-(2^127) of 1) and terminate
// promptly: the trial loop stops at the first failed Bernoulli(exp(-1)).
TEST(DiscreteGaussianTest, BernoulliExpMinusHugeGammaIsZeroAndFast) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(102);
  for (int i = 0; i < 10000; ++i) {
    EXPECT_FALSE(BernoulliExpMinusForTesting(Pow2(127), 1, rng));
  }
}

// P[y] = (1 - e^-1/t) / (1 + e^-1/t) e^-|y|/t for t in {1, 3, 20};
// 10^6 samples each; chi-square p-value > 1e-3 (99.9%).
TEST(DiscreteGaussianTest, DiscreteLaplaceMatchesItsPmfChiSquare) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(103);
  for (const uint64_t t : {1, 3, 20}) {
    std::vector<int64_t> samples(1000000);
    for (int64_t& y : samples) y = DiscreteLaplaceForTesting(t, rng);
    const double q = std::exp(-1.0 / t);
    auto pmf = [q, t](int64_t y) {
      return (1 - q) / (1 + q) * std::exp(-std::fabs(double(y)) / t);
    };
    EXPECT_GT(GoodnessOfFitPValue(samples, pmf, 60 * t), kMinPValue)
        << "t = " << t;
  }
}

// sigma^2 in {1/4, 2/3, 1, 10, 1000}, 10^6 samples each, against the
// exact pmf; chi-square p-value > 1e-3 (99.9%) for each.
TEST(DiscreteGaussianTest, DiscreteGaussianMatchesItsPmfChiSquare) {
  struct Case {
    uint64_t num, den;
  };
  NoiseSource rng = NoiseSource::FromSeedForTesting(104);
  for (const Case c :
       {Case{1, 4}, Case{2, 3}, Case{1, 1}, Case{10, 1}, Case{1000, 1}}) {
    const DiscreteGaussianSampler sampler = MustCreate(c.num, c.den);
    std::vector<int64_t> samples(1000000);
    for (int64_t& y : samples) y = sampler.Sample(rng);
    int64_t radius = 0;
    const auto pmf =
        DiscreteGaussianPmf(static_cast<double>(c.num) / c.den, &radius);
    EXPECT_GT(GoodnessOfFitPValue(samples, pmf, radius), kMinPValue)
        << "sigma^2 = " << c.num << "/" << c.den;
  }
}

// Mirror pairs: given c_k + c_-k, c_k is Binomial(., 1/2) under symmetry, so
// sum_k (c_k - c_-k)^2 / (c_k + c_-k) over k = 1..10 is chi-square with 10 df;
// p > 1e-3 (99.9%). The overall sign balance is within z = 3.29 (99.9%).
TEST(DiscreteGaussianTest, DiscreteGaussianIsSymmetricAboutZero) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(105);
  const DiscreteGaussianSampler sampler = MustCreate(9, 1);
  std::map<int64_t, double> counts;
  double positive = 0, negative = 0;
  for (int i = 0; i < 1000000; ++i) {
    const int64_t y = sampler.Sample(rng);
    counts[y] += 1;
    positive += y > 0;
    negative += y < 0;
  }
  double stat = 0;
  for (int k = 1; k <= 10; ++k) {
    const double diff = counts[k] - counts[-k];
    stat += diff * diff / (counts[k] + counts[-k]);
  }
  EXPECT_GT(ChiSquarePValue(stat, 10), kMinPValue);
  EXPECT_LE(std::fabs(positive - negative),
            kZ999 * std::sqrt(positive + negative));
}

// Large-sigma path: at sigma = 10^4 and 2^20, sum(y^2) / (n sigma^2) for
// n = 10^6 lies in the chi-square 99.9% interval [0.995353, 1.004660]
// (the discrete Gaussian's second and fourth moments match the continuous
// one's to within e^-(2 pi^2 sigma^2) here); the mean is within z = 3.29
// standard errors; y mod 16 is uniform (15 df, p > 1e-3), so the output is
// not confined to a lattice such as multiples of t.
TEST(DiscreteGaussianTest, VarianceWithinConfidenceBoundsAtLargeSigma) {
  NoiseSource rng = NoiseSource::FromSeedForTesting(106);
  for (const uint64_t sigma_sq : {uint64_t{100000000}, uint64_t{1} << 40}) {
    const DiscreteGaussianSampler sampler = MustCreate(sigma_sq, 1);
    constexpr int kN = 1000000;
    double sum = 0, sum_sq = 0;
    std::vector<double> mod16(16, 0);
    for (int i = 0; i < kN; ++i) {
      const int64_t y = sampler.Sample(rng);
      sum += y;
      sum_sq += static_cast<double>(y) * y;
      mod16[((y % 16) + 16) % 16] += 1;
    }
    const double ratio = sum_sq / kN / sigma_sq;
    EXPECT_GT(ratio, 0.995353) << sigma_sq;
    EXPECT_LT(ratio, 1.004660) << sigma_sq;
    EXPECT_LE(std::fabs(sum / kN), kZ999 * std::sqrt(sigma_sq / kN));
    double stat = 0;
    for (const double c : mod16) stat += (c - kN / 16.0) * (c - kN / 16.0);
    EXPECT_GT(ChiSquarePValue(stat / (kN / 16.0), 15), kMinPValue) << sigma_sq;
  }
}

TEST(DiscreteGaussianTest, CreateRefusesZeroAndOutOfRange) {
  EXPECT_FALSE(DiscreteGaussianSampler::Create(0, 1).ok());
  EXPECT_FALSE(DiscreteGaussianSampler::Create(1, 0).ok());
  EXPECT_FALSE(DiscreteGaussianSampler::Create(0, 0).ok());
  // den = 1: t = floor(sigma) + 1 must satisfy t^2 < 2^54, t <= 2^27 - 1.
  const uint64_t edge = ((uint64_t{1} << 27) - 1) * ((uint64_t{1} << 27) - 1);
  EXPECT_TRUE(DiscreteGaussianSampler::Create(edge - 1, 1).ok());
  absl::StatusOr<DiscreteGaussianSampler> too_big =
      DiscreteGaussianSampler::Create(edge, 1);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(too_big.status().message()).find("2^54"),
            std::string::npos)
      << too_big.status();
  // sigma = 2^24 is in range up to den = 63; 64 is reduced to den = 1.
  EXPECT_TRUE(DiscreteGaussianSampler::Create(uint64_t{63} << 48, 63).ok());
  EXPECT_TRUE(DiscreteGaussianSampler::Create(uint64_t{1} << 54, 64).ok());
  EXPECT_FALSE(
      DiscreteGaussianSampler::Create((uint64_t{1} << 54) + 1, 64).ok());
  EXPECT_FALSE(DiscreteGaussianSampler::Create(~uint64_t{0}, 1).ok());
  // Lowest terms first: 2^63 / 2^61 = 4.
  absl::StatusOr<DiscreteGaussianSampler> four =
      DiscreteGaussianSampler::Create(uint64_t{1} << 63, uint64_t{1} << 61);
  ASSERT_TRUE(four.ok()) << four.status();
  EXPECT_EQ(four->sigma_sq_num(), 4u);
  EXPECT_EQ(four->sigma_sq_den(), 1u);
  EXPECT_EQ(four->variance(), 4.0);
}

// floor(sigma) from an integer square root. A double sqrt rounds both of
// these up to the next integer: (2^26 + 1)^2 - 1 = 2^52 + 2^27 has
// floor(sqrt) = 2^26, and 2^48 - 1/63 has floor(sqrt) = 2^24 - 1.
TEST(DiscreteGaussianTest, CreateComputesFloorSigmaExactly) {
  const uint64_t big = (uint64_t{1} << 26) + 1;
  EXPECT_EQ(MustCreate(big * big - 1, 1).laplace_scale(), big);
  EXPECT_EQ(MustCreate(big * big, 1).laplace_scale(), big + 1);
  EXPECT_EQ(MustCreate((uint64_t{63} << 48) - 1, 63).laplace_scale(),
            uint64_t{1} << 24);
  EXPECT_EQ(MustCreate(1, 4).laplace_scale(), 1u);
  EXPECT_EQ(MustCreate(2, 3).laplace_scale(), 1u);
  EXPECT_EQ(MustCreate(1, 1).laplace_scale(), 2u);
  EXPECT_EQ(MustCreate(99, 1).laplace_scale(), 10u);
  EXPECT_EQ(MustCreate(100, 1).laplace_scale(), 11u);
}

// sigma'^2 = num/den >= sigma^2 exactly, num = ceil(sigma^2 den), den a power
// of two, and sigma'^2 / sigma^2 - 1 <= 2^-40. Checked in __float128, where
// sigma^2 (106 significant bits) and num/den (num < 2^64) are both exact.
TEST(DiscreteGaussianTest, CreateAtLeastIsNeverBelowAndWithin2ToMinus40) {
  std::vector<double> sigmas = {0.5,
                                0.7071067811865476,
                                std::nextafter(1.0, 0.0),
                                1.0,
                                std::nextafter(1.0, 2.0),
                                1.5,
                                M_PI,
                                std::nextafter(2.0, 0.0),
                                10.0,
                                1000.0,
                                12345.678,
                                1e5,
                                1048576.0,
                                1e7,
                                16777216.0,
                                std::nextafter(16777216.0, 0.0)};
  NoiseSource rng = NoiseSource::FromSeedForTesting(107);
  for (int i = 0; i < 2000; ++i) {  // log-uniform over [0.5, 2^24]
    sigmas.push_back(0.5 * std::exp2(25 * rng.UniformOpen01()));
  }
  for (const double sigma : sigmas) {
    absl::StatusOr<DiscreteGaussianSampler> s =
        DiscreteGaussianSampler::CreateAtLeast(sigma);
    ASSERT_TRUE(s.ok()) << sigma << ": " << s.status();
    const uint64_t num = s->sigma_sq_num(), den = s->sigma_sq_den();
    ASSERT_EQ(den & (den - 1), 0u) << sigma;
    const __float128 requested = static_cast<__float128>(sigma) * sigma;
    const __float128 excess_scaled =
        static_cast<__float128>(num) - requested * den;  // exact
    EXPECT_TRUE(excess_scaled >= 0) << sigma;
    EXPECT_TRUE(excess_scaled < 1) << sigma;
    EXPECT_TRUE(excess_scaled / den <= requested * std::ldexp(1.0, -40))
        << sigma;
    EXPECT_GE(s->variance(), sigma * sigma * (1 - 1e-15)) << sigma;
  }
}

// Below 0.5 the noise still never falls under the request.
TEST(DiscreteGaussianTest, CreateAtLeastTinySigmaIsNeverBelow) {
  for (const double sigma : {0.3, 1e-3, 1e-9, 1e-300, 5e-324}) {
    absl::StatusOr<DiscreteGaussianSampler> s =
        DiscreteGaussianSampler::CreateAtLeast(sigma);
    ASSERT_TRUE(s.ok()) << sigma << ": " << s.status();
    const __float128 requested = static_cast<__float128>(sigma) * sigma;
    EXPECT_TRUE(static_cast<__float128>(s->sigma_sq_num()) >=
                requested * s->sigma_sq_den())
        << sigma;
  }
}

TEST(DiscreteGaussianTest, CreateAtLeastKeepsExactSquares) {
  for (const uint64_t k : {1, 3, 1000, 1 << 20}) {
    absl::StatusOr<DiscreteGaussianSampler> s =
        DiscreteGaussianSampler::CreateAtLeast(static_cast<double>(k));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->sigma_sq_num(), k * k);
    EXPECT_EQ(s->sigma_sq_den(), 1u);
  }
  absl::StatusOr<DiscreteGaussianSampler> half =
      DiscreteGaussianSampler::CreateAtLeast(0.5);
  ASSERT_TRUE(half.ok()) << half.status();
  EXPECT_EQ(half->sigma_sq_num(), 1u);
  EXPECT_EQ(half->sigma_sq_den(), 4u);
}

TEST(DiscreteGaussianTest, CreateAtLeastRefusesNonFiniteNonPositiveAndHuge) {
  for (const double sigma : {std::numeric_limits<double>::quiet_NaN(),
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(), 0.0,
                             -1.0, 134217728.0, 1e9}) {
    absl::StatusOr<DiscreteGaussianSampler> s =
        DiscreteGaussianSampler::CreateAtLeast(sigma);
    EXPECT_FALSE(s.ok()) << sigma;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << sigma;
  }
  EXPECT_TRUE(DiscreteGaussianSampler::CreateAtLeast(1.3e8).ok());
}

// AddTo draws exactly one Sample per coordinate, in order.
TEST(DiscreteGaussianTest, AddToAddsOneSamplePerCoordinate) {
  const DiscreteGaussianSampler sampler = MustCreate(1000, 3);
  NoiseSource a = NoiseSource::FromSeedForTesting(108);
  NoiseSource b = NoiseSource::FromSeedForTesting(108);
  std::vector<int64_t> values = {0, -5, 1000000, -(int64_t{1} << 40), 7};
  const std::vector<int64_t> original = values;
  sampler.AddTo(absl::MakeSpan(values), a);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(values[i], original[i] + sampler.Sample(b)) << i;
  }
}

}  // namespace
}  // namespace fedlearn
