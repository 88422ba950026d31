// The client encoding of the distributed discrete Gaussian mechanism
// (Kairouz, Liu, Steinke 2021, "The Distributed Discrete Gaussian Mechanism
// for Federated Learning with Secure Aggregation", ICML; "KLS21" below).
// Each client turns its L2-clipped float update into d integers mod 2^b that
// secure aggregation sums; the server only ever sees the noisy sum.
//
// Client, Encode (KLS21 Alg. 1):
//   1. pad x (D floats, ||x||_2 <= C) to d = NextPowerOfTwo(D) and rotate:
//      x' = (1/sqrt(d)) H D_s x (randomized_hadamard.h; the signs come from
//      the round's PUBLIC seed, shared by all clients and the server);
//   2. scale: y = x' / gamma, so ||y||_2 <= c := C / gamma;
//   3. conditional randomized rounding: round every y_j up with probability
//      y_j - floor(y_j), else down; repeat the whole vector until
//      ||round(y)||_2 <= Delta_2 (KLS21 Thm. 2 bounds the failure
//      probability of one attempt by beta; < 1000 attempts are allowed);
//   4. add N_Z(0, sigma_int^2) independently per coordinate
//      (discrete_gaussian.h, exact, CSPRNG-driven);
//   5. reduce mod 2^b (two's complement).
// Server, DecodeSum: lift each summed coordinate to [-2^(b-1), 2^(b-1)),
// multiply by gamma, rotate back, drop the padding: the sum of the updates
// plus noise, D floats.
//
// Sensitivity (KLS21 Thm. 2 / eq. (5)), in integer units, c = C / gamma:
//   Delta_2^2 = min{ c^2 + d/4 + sqrt(2 ln(1/beta)) (c + sqrt(d)/2),
//                    (c + sqrt(d))^2 }.
// The second term is the triangle inequality (|round(y_j) - y_j| < 1), so it
// never needs a retry; the first is the conditional-rounding bound. Step 3
// enforces ||round(y)||_2^2 <= floor(Delta_2^2) on every output, whatever the
// input, so Delta_2 is a hard sensitivity, not a high-probability one.
//
// Noise. The caller asks for noise_stddev sigma in the SUM, in update units,
// i.e. a noise multiplier z = sigma / C. Each client samples
//   sigma_int = z * Delta_2 / sqrt(n_min)                          (N1)
// rounded up by DiscreteGaussianSampler::CreateAtLeast to the exact variance
// v = client_noise_variance() >= sigma_int^2. With n >= n_min honest clients
// the sum carries N_Z(0, v) n times, a noise multiplier (KLS21 Thm. 1)
//   z_eff = sqrt(n_min v) / Delta_2 >= z   (effective_noise_multiplier()),
// which is what an accountant must use (sensitivity Delta_2, stddev
// sqrt(n_min v)). In update units the summed noise has per-coordinate
// variance n v gamma^2 >= sigma^2 (Delta_2 > c); the rotation is orthonormal
// and the noise is i.i.d. per coordinate, so the decoded noise has that same
// covariance n v gamma^2 I. KLS21 Thm. 1 adds a correction
//   tau = 10 sum_{k=1}^{n-1} exp(-2 pi^2 sigma_int^2 k/(k+1))
//       <= 10 (n-1) exp(-pi^2 sigma_int^2)
// to eps^2 (as tau d / 2) because a sum of discrete Gaussians is not itself
// one; Create refuses configurations where tau d / 2 exceeds 1e-6 of
// 1 / z_eff^2, so z_eff above is exact to that precision (in practice
// sigma_int >= 2 already makes it < 1e-9).
//
// Modulus and granularity. Coordinate j of the summed integers, over
// n <= n_max clients, is S_j = (U sum_i x_i)_j / gamma + sum_i e_ij + noise:
//   * (U sum_i x_i)_j is sub-Gaussian over the random signs with variance
//     proxy ||sum_i x_i||^2 / d <= (n_max C)^2 / d (Hoeffding), for ANY
//     correlation among the updates (all n_max aligned is the worst case),
//     provided the updates do not depend on the rotation seed (an honest
//     client's update does not);
//   * the rounding errors satisfy |e_ij| < 1, so |sum_i e_ij| < n_max
//     deterministically. (Unconditional rounding would be 1/4-sub-Gaussian,
//     but conditioning on the norm event breaks that, and n_max is far below
//     2^(b-1) anyway);
//   * the sum of n_max draws of N_Z(0, v) is (n_max v)-sub-Gaussian
//     (Canonne, Kamath, Steinke 2020: E[exp(t X)] <= exp(t^2 sigma^2 / 2)
//     for X ~ N_Z(0, sigma^2)).
// Signs and noise are independent, so their proxies add:
//   tau_S^2 = n_max^2 c^2 / d + n_max v,                               (R1)
// and Create requires
//   k tau_S + n_max <= 2^(b-1) - 1,   k = range_stddevs,                (R2)
// so P[some coordinate of the sum wraps] <= 2 d exp(-k^2 / 2) (k = 6:
// 3.0e-8 d). gamma is the FINEST granularity (largest c) satisfying (R2)
// with v = sigma_int^2 from (N1), found by bisection on c (both sides grow
// with c), additionally capped so that sigma_int <= kMaxClientNoiseStddev
// = 2^24, inside the sampler's exact range; (R2) is then re-checked with the
// sampler's exact v. Everything above depends on C only through
// c = C / gamma: gamma scales with C, and c does not depend on C at all.
//
// Refusals (InvalidArgument, naming the knob): dimension outside
// [1, 2^28]; modulus_bits outside [2, 32]; clip_norm not finite and > 0;
// noise_stddev negative or not finite; min_clients < 1; max_clients <
// min_clients; beta outside (0, 1); range_stddevs not finite and > 0; and
// any configuration whose finest admissible c is below sqrt(d): then the
// rounding error (norm up to sqrt(d) per client) would be comparable to the
// signal and Delta_2 / c > 1.5 would inflate the noise needed for the same
// privacy. The message says to raise modulus_bits or lower max_clients (or
// range_stddevs, or the noise multiplier).
//
// Without noise, and without wrapping, the decoded sum of n encodings differs
// from the sum of the updates by at most n gamma sqrt(d) in L2 (each client's
// rounding error has norm < sqrt(d) in integer units; rotation and dropping
// the padding do not increase norms), plus float rounding of the output.
//
// Deviations from KLS21: gamma is chosen by (R1)-(R2), which sizes the signal
// term for n_max ALIGNED updates (n_max^2 c^2 / d) where the paper's
// heuristic (and TensorFlow Federated's) assumes independent updates
// (n c^2 / d), and bounds the rounding term deterministically (n_max) rather
// than as sub-Gaussian; sigma_int is capped at 2^24; and an input whose norm
// exceeds C by less than the accepted 1e-6 tolerance is first scaled onto
// the C-ball.
#ifndef FEDLEARN_COMMON_DP_DISTRIBUTED_DP_ENCODING_H_
#define FEDLEARN_COMMON_DP_DISTRIBUTED_DP_ENCODING_H_

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/dp/discrete_gaussian.h"
#include "common/dp/noise_source.h"
#include "common/dp/randomized_hadamard.h"

namespace fedlearn {

struct DistributedDpParameters {
  size_t dimension = 0;   // D
  int modulus_bits = 32;  // b, 2..32 (SecAgg sums in Z_2^b)
  double clip_norm = 0;   // C: L2 bound of one (already clipped) update
  // sigma of the noise in the SUM, in update units, when at least
  // min_clients contribute; 0 = no noise.
  double noise_stddev = 0;
  int min_clients = 1;  // n_min: clients whose noise the sum is guaranteed
  int max_clients = 1;  // n_max: most summands (range sizing)
  double beta = std::exp(-0.5);  // conditional rounding (KLS21 Thm. 2)
  double range_stddevs = 6;      // headroom k for modular clipping, (R2)
  std::array<uint8_t, 32> rotation_seed{};  // public, per round
};

class DistributedDpEncoder {
 public:
  // Per-client discrete Gaussian stddev cap, inside the exact range of
  // DiscreteGaussianSampler.
  static constexpr double kMaxClientNoiseStddev = 16777216.0;  // 2^24
  // Rounding attempts before Encode gives up (Internal). Each attempt fails
  // with probability <= beta, so this is never reached in practice.
  static constexpr int kMaxRoundingAttempts = 1000;

  static absl::StatusOr<DistributedDpEncoder> Create(
      const DistributedDpParameters& params);

  size_t dimension() const { return rotation_.dimension(); }  // D
  size_t encoded_length() const {                             // d
    return rotation_.padded_dimension();
  }
  int modulus_bits() const { return modulus_bits_; }
  double granularity() const { return gamma_; }  // gamma
  // c = C / gamma: the clip norm in integer units.
  double scaled_clip_norm() const { return scaled_clip_; }
  // Delta_2, integer units (for the accountant).
  double l2_sensitivity() const { return l2_sensitivity_; }
  // sigma_int^2 actually sampled (integer units); 0 without noise.
  double client_noise_variance() const {
    return noise_ ? noise_->variance() : 0.0;
  }
  // Effective noise multiplier of the sum when >= min_clients contribute:
  // sqrt(min_clients * client_noise_variance()) / l2_sensitivity().
  double effective_noise_multiplier() const;
  const RandomizedHadamard& rotation() const { return rotation_; }

  // update: D floats with ||update||_2 <= clip_norm * (1 + 1e-6)
  // (InvalidArgument otherwise, or on a non-finite value). Returns d values
  // in [0, 2^b).
  absl::StatusOr<std::vector<uint32_t>> Encode(absl::Span<const float> update,
                                               NoiseSource& rng) const;
  // sum: d values mod 2^b (InvalidArgument on a wrong length or a value
  // >= 2^b) -> noisy sum of the updates, D floats.
  absl::StatusOr<std::vector<float>> DecodeSum(
      absl::Span<const uint32_t> sum) const;

 private:
  DistributedDpEncoder(RandomizedHadamard rotation, int modulus_bits,
                       double clip_norm, int min_clients, double gamma,
                       double delta2_sq,
                       std::optional<DiscreteGaussianSampler> noise);

  RandomizedHadamard rotation_;
  int modulus_bits_;
  double clip_norm_;
  int min_clients_;
  double gamma_;
  double scaled_clip_;
  double l2_sensitivity_;
  // floor(Delta_2^2): an integer vector's squared norm is <= Delta_2^2 iff it
  // is <= this.
  unsigned __int128 delta2_sq_floor_;
  std::optional<DiscreteGaussianSampler> noise_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DP_DISTRIBUTED_DP_ENCODING_H_
