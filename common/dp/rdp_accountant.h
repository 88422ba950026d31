// Renyi-DP accountant for the sampled Gaussian mechanism under Poisson
// sampling (Mironov, Talwar, Zhang 2019, "Renyi Differential Privacy of the
// Sampled Gaussian Mechanism"), following TF Privacy's / Opacus's
// `compute_rdp`:
//   * integer order alpha: the binomial expansion
//       log A = logsumexp_k [log C(alpha,k) + k log q + (alpha-k) log(1-q)
//                            + (k^2-k) / (2 sigma^2)],
//   * fractional alpha: the two-series formula (TF Privacy's
//     `_compute_log_a_frac`), summed until both terms drop below e^-30,
//   * RDP(alpha) = log A / (alpha - 1); q = 0 -> 0; q = 1 -> alpha/(2 sigma^2);
//     sigma = 0 -> +inf.
// All arithmetic is in log space (log-add/log-sub, lgamma binomials, a
// log-erfc with an asymptotic tail), so q in [1e-5, 1], sigma in [0.3, 100]
// and orders up to 256 do not overflow.
#ifndef FEDLEARN_COMMON_DP_RDP_ACCOUNTANT_H_
#define FEDLEARN_COMMON_DP_RDP_ACCOUNTANT_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedlearn {

// Opacus's DEFAULT_ALPHAS: [1 + x/10 for x in 1..99] + [12..63] (151 orders).
std::vector<double> DefaultRdpOrders();

// RDP at `order` of one step of the sampled Gaussian mechanism with sampling
// rate q and noise multiplier sigma (noise stddev / L2 sensitivity).
// InvalidArgument unless q in [0, 1], sigma >= 0 and order > 1 (all finite).
absl::StatusOr<double> SampledGaussianRdp(double q, double noise_multiplier,
                                          double order);

// Accumulates RDP over steps; composition is additive per order. Steps with
// identical (q, sigma) are merged into one ledger entry, so the total for an
// order is steps_total * rdp_one_step for each entry: AddSteps(q, s, 10)
// followed by AddSteps(q, s, 5) is bit-identical to AddSteps(q, s, 15).
class RdpAccountant {
 public:
  explicit RdpAccountant(std::vector<double> orders = DefaultRdpOrders());

  // InvalidArgument on bad q / sigma (see SampledGaussianRdp), steps < 0, or
  // if the constructor was given an order <= 1; the accountant is unchanged
  // on error.
  absl::Status AddSteps(double q, double noise_multiplier, int steps);

  // RDP -> (eps, delta) by the improved conversion of Balle et al. 2020
  // ("Hypothesis testing interpretations and Renyi DP", Thm. 21), as in TF
  // Privacy's compute_eps and Opacus's get_privacy_spent:
  //   eps = min over orders of rdp + log1p(-1/alpha) -
  //   log(delta*alpha)/(alpha-1).
  // Negative minima are clamped to 0 (as TF Privacy). Returns the eps and the
  // minimising order. InvalidArgument unless 0 < delta < 1.
  struct Spent {
    double epsilon;
    double order;
  };
  absl::StatusOr<Spent> GetPrivacySpent(double delta) const;

  const std::vector<double>& orders() const { return orders_; }
  // Accumulated RDP per order (same indexing as orders()), for persistence.
  const std::vector<double>& rdp() const { return rdp_; }

 private:
  struct Entry {
    double q;
    double noise_multiplier;
    int64_t steps;
    std::vector<double> per_step;  // one-step RDP per order
  };
  void Recompute();

  std::vector<double> orders_;
  std::vector<Entry> ledger_;
  std::vector<double> rdp_;
};

// Smallest noise multiplier such that `steps` steps at rate q stay within
// (target_epsilon, delta) under RdpAccountant with the default orders, by
// bisection to a relative tolerance of 1e-6 (the returned sigma satisfies the
// target). InvalidArgument on bad arguments or if unreachable with
// sigma <= 1000.
absl::StatusOr<double> CalibrateNoiseMultiplier(double target_epsilon,
                                                double delta, double q,
                                                int steps);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DP_RDP_ACCOUNTANT_H_
