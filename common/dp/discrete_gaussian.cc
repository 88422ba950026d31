#include "common/dp/discrete_gaussian.h"

#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fedlearn {
namespace {

constexpr uint128 kU128Max = ~static_cast<uint128>(0);
// A discrete Laplace candidate X = U + t V is redrawn once V reaches this
// cap: P[V >= 1024] = e^-1024 < 2^-1477. Keeping |Y| < 1024 t bounds the
// acceptance exponent's numerator, see kMaxTSquaredDen.
constexpr uint64_t kLaplaceBlockCap = 1024;
// Range condition t^2 * den < 2^54, i.e. 1024 t^2 den < 2^64: then
// |Y| d t < 2^64, so A = | |Y| d t - n | < 2^64 and A^2 < 2^128; and
// B = 2 n d t^2 < 2 * 2^64 * 2^54 = 2^119.
constexpr uint128 kMaxTSquaredDen = static_cast<uint128>(1) << 54;
// t^2 * den < 2^54 with den >= 1 forces t < 2^27; checked first so the
// product t^2 * den cannot overflow.
constexpr uint64_t kMaxLaplaceScale = uint64_t{1} << 27;

// floor(sqrt(v)), exactly: a double estimate corrected in integers.
uint64_t FloorSqrt(uint64_t v) {
  uint64_t r = static_cast<uint64_t>(std::sqrt(static_cast<double>(v)));
  while (static_cast<uint128>(r) * r > v) --r;
  while (static_cast<uint128>(r + 1) * (r + 1) <= v) ++r;
  return r;
}

// Bernoulli(x / y) for 0 <= x <= y, y > 0.
bool BernoulliRatio(uint128 x, uint128 y, NoiseSource& rng) {
  return rng.UniformBelow128(y) < x;
}

// Bernoulli(exp(-x / y)) for x <= y (gamma in [0, 1]), CKS Alg. 1: draw
// A_k ~ Bernoulli(gamma / k) for k = 1, 2, ... until one is 0; output 1 iff
// that k is odd. Bernoulli(x / (y k)) is one draw below y k while that fits
// in 128 bits and otherwise Bernoulli(x / y) AND Bernoulli(1 / k), the same
// probability from two independent draws.
bool BernoulliExpMinusUnit(uint128 x, uint128 y, NoiseSource& rng) {
  if (x == 0) return true;  // Bernoulli(0) ends the loop at k = 1
  uint64_t k = 1;
  while (true) {
    bool a;
    if (y <= kU128Max / k) {
      a = BernoulliRatio(x, y * k, rng);
    } else {
      a = BernoulliRatio(x, y, rng) && BernoulliRatio(1, k, rng);
    }
    if (!a) break;
    ++k;
  }
  return k % 2 == 1;
}

// Bernoulli(exp(-1)), the inner step of the gamma > 1 branch and of the
// discrete Laplace's geometric part.
bool BernoulliExpMinusOne(NoiseSource& rng) {
  return BernoulliExpMinusUnit(1, 1, rng);
}

// Bernoulli(exp(-x / y)) for any x, y > 0 (CKS Alg. 1): for gamma > 1,
// floor(gamma) independent Bernoulli(exp(-1)) trials, all of which must
// succeed, then Bernoulli(exp(-(gamma - floor(gamma)))). The loop stops at the
// first failure, so it runs 1 / (1 - e^-1) < 1.6 trials on average however
// large gamma is.
bool BernoulliExpMinus(uint128 x, uint128 y, NoiseSource& rng) {
  if (x <= y) return BernoulliExpMinusUnit(x, y, rng);
  for (uint128 i = x / y; i > 0; --i) {
    if (!BernoulliExpMinusOne(rng)) return false;
  }
  return BernoulliExpMinusUnit(x % y, y, rng);
}

// CKS Alg. 2 with s = 1: U uniform on {0..t-1} kept with probability
// exp(-U/t), V geometric (count of Bernoulli(exp(-1)) successes),
// X = U + t V, a fair sign, and -0 rejected. Candidates with V >= 1024 are
// redrawn (see kLaplaceBlockCap); this conditions the output on |Y| < 1024 t.
// Requires 1 <= t and 1024 t < 2^63.
int64_t DiscreteLaplace(uint64_t t, NoiseSource& rng) {
  while (true) {
    const uint64_t u = rng.UniformBelow(t);
    if (!BernoulliExpMinusUnit(u, t, rng)) continue;
    uint64_t v = 0;
    while (v < kLaplaceBlockCap && BernoulliExpMinusOne(rng)) ++v;
    if (v == kLaplaceBlockCap) continue;
    const uint64_t x = u + t * v;
    const bool negative = (rng.NextU64() & 1) != 0;
    if (negative && x == 0) continue;
    return negative ? -static_cast<int64_t>(x) : static_cast<int64_t>(x);
  }
}

std::string RangeMessage() {
  return "exact 128-bit sampling needs (floor(sigma) + 1)^2 * den < 2^54 "
         "with num/den in lowest terms, e.g. sigma < 2^27 - 1 with den = 1, "
         "sigma <= 2^24 with den <= 63, sigma < 1 with den < 2^54";
}

}  // namespace

DiscreteGaussianSampler::DiscreteGaussianSampler(uint64_t num, uint64_t den)
    : num_(num), den_(den), t_(FloorSqrt(num / den) + 1) {}

absl::StatusOr<DiscreteGaussianSampler> DiscreteGaussianSampler::Create(
    uint64_t sigma_sq_num, uint64_t sigma_sq_den) {
  if (sigma_sq_num == 0 || sigma_sq_den == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sigma^2 = num/den needs num > 0 and den > 0, got ",
                     sigma_sq_num, "/", sigma_sq_den));
  }
  const uint64_t g = std::gcd(sigma_sq_num, sigma_sq_den);
  const uint64_t num = sigma_sq_num / g;
  const uint64_t den = sigma_sq_den / g;
  // floor(sqrt(num/den)) = floor(sqrt(floor(num/den))), all in integers.
  const uint64_t t = FloorSqrt(num / den) + 1;
  if (t >= kMaxLaplaceScale ||
      static_cast<uint128>(t) * t * den >= kMaxTSquaredDen) {
    return absl::InvalidArgumentError(
        absl::StrCat("sigma^2 = ", sigma_sq_num, "/", sigma_sq_den,
                     " is out of range: ", RangeMessage()));
  }
  return DiscreteGaussianSampler(num, den);
}

// sigma = m 2^e exactly (m a 53-bit integer), so sigma^2 = m^2 2^(2e) with
// m^2 < 2^106: exact in 128 bits. For den = 2^k, num = ceil(m^2 2^(2e + k)).
// Tries k = 63 down to 0 and keeps the first (finest) that is in range.
absl::StatusOr<DiscreteGaussianSampler> DiscreteGaussianSampler::CreateAtLeast(
    double sigma) {
  if (!std::isfinite(sigma) || !(sigma > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sigma must be finite and > 0, got ", sigma));
  }
  int exponent = 0;
  const double fraction = std::frexp(sigma, &exponent);  // [0.5, 1)
  const uint64_t m = static_cast<uint64_t>(std::ldexp(fraction, 53));
  const int e = exponent - 53;
  const uint128 m_sq = static_cast<uint128>(m) * m;
  for (int k = 63; k >= 0; --k) {
    const int shift = 2 * e + k;  // num = ceil(m_sq * 2^shift)
    uint128 num;
    if (shift >= 0) {
      if (shift >= 128 || m_sq > (kU128Max >> shift)) continue;
      num = m_sq << shift;
    } else if (-shift >= 128) {
      num = 1;  // 0 < m_sq 2^shift < 2^(106 - 128) < 1
    } else {
      const uint128 low_mask = (static_cast<uint128>(1) << -shift) - 1;
      num = (m_sq >> -shift) + ((m_sq & low_mask) != 0 ? 1 : 0);
    }
    if (num >> 64 != 0) continue;
    absl::StatusOr<DiscreteGaussianSampler> sampler =
        Create(static_cast<uint64_t>(num), uint64_t{1} << k);
    if (sampler.ok()) return sampler;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("sigma = ", sigma, " is out of range: ", RangeMessage()));
}

double DiscreteGaussianSampler::variance() const {
  return static_cast<double>(num_) / static_cast<double>(den_);
}

// CKS Alg. 3: Y ~ DLap(t), accepted with probability
// exp(-(|Y| - sigma^2 / t)^2 / (2 sigma^2)). With sigma^2 = n / d the
// exponent is exactly A^2 / B, A = | |Y| d t - n |, B = 2 n d t^2, and the
// range check in Create keeps A < 2^64 and B < 2^119.
int64_t DiscreteGaussianSampler::Sample(NoiseSource& rng) const {
  const uint128 n = num_;
  const uint128 d = den_;
  const uint128 t = t_;
  const uint128 b = 2 * n * d * t * t;
  while (true) {
    const int64_t y = DiscreteLaplace(t_, rng);
    const uint128 abs_y = static_cast<uint64_t>(y < 0 ? -y : y);
    const uint128 ydt = abs_y * d * t;
    const uint128 a = ydt >= n ? ydt - n : n - ydt;
    if (BernoulliExpMinus(a * a, b, rng)) return y;
  }
}

void DiscreteGaussianSampler::AddTo(absl::Span<int64_t> values,
                                    NoiseSource& rng) const {
  // Unsigned addition: defined behaviour even for a caller whose values sit
  // at the edge of int64 and are meant modulo 2^64.
  for (int64_t& value : values) {
    value = static_cast<int64_t>(static_cast<uint64_t>(value) +
                                 static_cast<uint64_t>(Sample(rng)));
  }
}

bool BernoulliExpMinusForTesting(uint128 x, uint128 y, NoiseSource& rng) {
  return BernoulliExpMinus(x, y, rng);
}

int64_t DiscreteLaplaceForTesting(uint64_t t, NoiseSource& rng) {
  return DiscreteLaplace(t, rng);
}

}  // namespace fedlearn
