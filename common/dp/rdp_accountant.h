// Renyi-DP accountant for the sampled Gaussian mechanism under Poisson
// sampling (Mironov, Talwar, Zhang 2019, "Renyi Differential Privacy of the
// Sampled Gaussian Mechanism"), following TF Privacy's / Opacus's
// `compute_rdp`:
//   * integer order alpha: the binomial expansion
//       log A = logsumexp_k [log C(alpha,k) + k log q + (alpha-k) log(1-q)
//                            + (k^2-k) / (2 sigma^2)],
//   * fractional alpha: the two-series formula (TF Privacy's
//     `_compute_log_a_frac`, signed terms), summed until both terms are
//     below e^-30 and falling (TF Privacy omits "falling" and can stop at
//     the first term, see LogAFrac),
//   * RDP(alpha) = log A / (alpha - 1); q = 0 -> 0; q = 1 -> alpha/(2 sigma^2);
//     sigma = 0 -> +inf.
// All arithmetic is in log space (log-add/log-sub, lgamma binomials, a
// log-erfc with an asymptotic tail), so q in [1e-5, 1], sigma in [0.3, 100]
// and orders up to 256 do not overflow.
//
// Agreement with the published accountants, and which RDP -> (eps, delta)
// conversion each published number used, is recorded in docs/dp_accountant.md
// and pinned by tests/common/dp/rdp_accountant_test.cc.
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

// How an RDP curve becomes an (eps, delta) guarantee.
enum class RdpConversion {
  // Balle et al. 2020 ("Hypothesis testing interpretations and Renyi DP",
  // Thm. 21; = Canonne, Kamath, Steinke 2020, Prop. 12), exactly as TF
  // Privacy's `_compute_eps` (2020-2022) and dp_accounting's
  // `compute_epsilon`:
  //   eps(alpha) = 0                      if delta^2 + expm1(-rdp) >= 0
  //                                       (the KL bound already gives delta),
  //              = rdp + log1p(-1/alpha) - log(delta*alpha)/(alpha-1)
  //                                       if alpha > 1.01,
  //              = +inf                   otherwise (unstable near 1);
  //   eps = max(0, min_alpha eps(alpha)).
  // Opacus >= 1.0 (`get_privacy_spent`) uses the same formula without the KL
  // shortcut, the 1.01 guard and the clamp; the results differ only when
  // some order has rdp <= ~delta^2 or the minimum is negative.
  kImproved,
  // Mironov 2017 ("Renyi Differential Privacy", Prop. 3), as TF Privacy
  // before 2020 and Opacus' privacy_analysis before 1.0:
  //   eps = min_alpha rdp - log(delta)/(alpha-1).
  // Only for reproducing numbers published with it; always >= kImproved.
  kClassic,
};

struct EpsilonAndOrder {
  double epsilon;
  double order;  // the minimising RDP order
};

// (eps, delta) from an RDP curve. Ties go to the first order. InvalidArgument
// unless 0 < delta < 1, the vectors are non-empty and of equal length, every
// order is finite and > 1 and no rdp value is negative or NaN (+inf is fine).
absl::StatusOr<EpsilonAndOrder> EpsilonFromRdp(
    const std::vector<double>& orders, const std::vector<double>& rdp,
    double delta, RdpConversion conversion = RdpConversion::kImproved);

// Accumulates RDP over steps; composition is additive per order. Steps with
// identical (q, sigma) are merged into one ledger entry, so the total for an
// order is steps_total * rdp_one_step for each entry: AddSteps(q, s, 10)
// followed by AddSteps(q, s, 5) is bit-identical to AddSteps(q, s, 15).
//
// The ledger (not the RDP vector) is the persistent state: an accountant
// rebuilt by FromLedger(ledger(), orders()) is bit-identical to the original,
// and so is everything added to both afterwards.
class RdpAccountant {
 public:
  using Conversion = RdpConversion;
  using Spent = EpsilonAndOrder;

  // One distinct mechanism and how many times it ran.
  struct LedgerEntry {
    double q;
    double noise_multiplier;
    int64_t steps;
  };

  explicit RdpAccountant(std::vector<double> orders = DefaultRdpOrders());

  // Rebuilds an accountant from ledger() of a previous one (entries in
  // ledger order; entries with equal (q, sigma) are merged, zero-step ones
  // dropped, exactly as AddSteps would). InvalidArgument on a bad entry
  // (see AddSteps), negative steps, or an order <= 1.
  static absl::StatusOr<RdpAccountant> FromLedger(
      std::vector<LedgerEntry> ledger,
      std::vector<double> orders = DefaultRdpOrders());

  // InvalidArgument on bad q / sigma (see SampledGaussianRdp), steps < 0, or
  // if the constructor was given an order <= 1; the accountant is unchanged
  // on error.
  absl::Status AddSteps(double q, double noise_multiplier, int steps);

  // The tightest eps over orders() at this delta, and the minimising order.
  // InvalidArgument unless 0 < delta < 1. Defaults to the improved
  // conversion (see RdpConversion).
  absl::StatusOr<Spent> GetPrivacySpent(
      double delta, Conversion conversion = Conversion::kImproved) const;

  // What GetPrivacySpent(delta)->epsilon would be after AddSteps(q, z,
  // steps), without changing this accountant: the budget check before a
  // round is released. Same errors as AddSteps / GetPrivacySpent.
  absl::StatusOr<double> EpsilonIfAdded(double q, double noise_multiplier,
                                        int steps, double delta) const;

  const std::vector<double>& orders() const { return orders_; }
  // Accumulated RDP per order (same indexing as orders()).
  const std::vector<double>& rdp() const { return rdp_; }
  // Distinct (q, sigma) mechanisms in first-use order, for persistence.
  std::vector<LedgerEntry> ledger() const;

 private:
  struct Entry {
    double q;
    double noise_multiplier;
    int64_t steps;
    std::vector<double> per_step;  // one-step RDP per order
  };
  absl::Status AddEntry(double q, double noise_multiplier, int64_t steps);
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
