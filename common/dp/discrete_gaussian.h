// Exact sampling from the discrete Gaussian N_Z(0, sigma^2), the
// distribution on the integers with P[x] proportional to
// exp(-x^2 / (2 sigma^2)), by the algorithm of Canonne, Kamath and Steinke,
// "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020), Alg. 1-3:
// Bernoulli(exp(-gamma)) for rational gamma, discrete Laplace with integer
// scale t = floor(sigma) + 1, and rejection to the discrete Gaussian.
//
// Exactness: sigma^2 is held as a rational num/den and every comparison is
// integer arithmetic (128-bit), so the output distribution is exactly
// N_Z(0, num/den) given uniform bits; no floating point touches a decision.
// Uniform bits come from a NoiseSource (a CSPRNG).
//
// Range: with num/den in lowest terms and t = floor(sigma) + 1 (an integer
// square root, not a double), Create requires t^2 * den < 2^54: e.g.
// sigma < 2^27 - 1 with den = 1, sigma <= 2^24 with den <= 63, any
// sigma < 1 with den < 2^54. Why: a discrete Laplace candidate Y is kept only
// if |Y| < 1024 t, so the acceptance exponent (|Y| d t - n)^2 / (2 n d t^2)
// has a numerator below 2^128 and a denominator below 2^119.
//
// The one departure from the paper: a discrete Laplace candidate with
// |Y| >= 1024 t (probability e^-1024 < 2^-1477 per candidate) is redrawn.
// The output is therefore N_Z(0, sigma^2) conditioned on |x| < 1024 t, an
// event whose complement has probability below e^-500000 (t > sigma).
#ifndef FEDLEARN_COMMON_DP_DISCRETE_GAUSSIAN_H_
#define FEDLEARN_COMMON_DP_DISCRETE_GAUSSIAN_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/dp/noise_source.h"

namespace fedlearn {

class DiscreteGaussianSampler {
 public:
  // sigma^2 = sigma_sq_num / sigma_sq_den. InvalidArgument if either is 0 or
  // if sigma^2 is outside the range where the 128-bit arithmetic is exact
  // (the message states the range).
  static absl::StatusOr<DiscreteGaussianSampler> Create(uint64_t sigma_sq_num,
                                                        uint64_t sigma_sq_den);
  // The smallest representable sigma' >= sigma (sigma^2 rounded up to a
  // rational with a power-of-two denominator), so noise is never below the
  // requested level. InvalidArgument for non-finite or out-of-range sigma.
  // The denominator is the largest 2^k the range allows, so for
  // sigma >= 0.5 sigma'^2 exceeds sigma^2 by less than 2^-48 relative.
  static absl::StatusOr<DiscreteGaussianSampler> CreateAtLeast(double sigma);

  // The exact sigma^2 sampled from, as a double (for accounting).
  double variance() const;
  // The exact sigma^2 = sigma_sq_num() / sigma_sq_den(), in lowest terms.
  uint64_t sigma_sq_num() const { return num_; }
  uint64_t sigma_sq_den() const { return den_; }
  // t = floor(sigma) + 1, the scale of the discrete Laplace proposal.
  uint64_t laplace_scale() const { return t_; }

  int64_t Sample(NoiseSource& rng) const;
  // values[i] += Sample(rng) (wrapping mod 2^64 is impossible in range).
  void AddTo(absl::Span<int64_t> values, NoiseSource& rng) const;

 private:
  DiscreteGaussianSampler(uint64_t num, uint64_t den);
  uint64_t num_;  // sigma^2 = num_ / den_
  uint64_t den_;
  uint64_t t_;  // floor(sigma) + 1, the discrete Laplace scale
};

// The building blocks, exposed for their statistical tests.
// Bernoulli(exp(-x / y)) exactly (CKS Alg. 1); y > 0, any x.
bool BernoulliExpMinusForTesting(uint128 x, uint128 y, NoiseSource& rng);
// The discrete Laplace P[y] proportional to exp(-|y| / t) (CKS Alg. 2 with
// integer scale t), with the redraw of |y| >= 1024 t above; 1 <= t < 2^53.
int64_t DiscreteLaplaceForTesting(uint64_t t, NoiseSource& rng);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DP_DISCRETE_GAUSSIAN_H_
