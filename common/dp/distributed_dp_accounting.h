// Privacy accounting for the distributed discrete Gaussian (DDG) mechanism of
// Kairouz, Liu, Steinke 2021 ("The Distributed Discrete Gaussian Mechanism
// for Federated Learning with Secure Aggregation", ICML, arXiv:2102.06387):
// each of n clients adds iid N_Z(0, sigma^2)^d noise to its integer vector and
// the server only sees the sum (secure aggregation).
//
// The formulas are those of the authors' accounting code,
// google-research/federated distributed_dp/accounting_utils.py
// (`ddgauss_epsilon`, `compute_rdp_dgaussian`, `_compute_rdp_subsampled`):
//   tau  = 10 * sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k / (k+1))
//   l2 = D2 / (sqrt(n) sigma),  l1 = D1 / (sqrt(n) sigma)
//   RDP(alpha) = min{ alpha/2 l2^2 + tau d,
//                     alpha/2 (l2^2 + 2 l1 tau + tau^2 d),
//                     alpha/2 (l2 + sqrt(d) tau)^2 }      (Prop. 14 / Eq. 17)
// with D2 / D1 the L2 / L1 sensitivities of one client's (scaled, rounded)
// integer vector and sigma the per-client discrete Gaussian scale, all in the
// integer domain. When tau underflows (sigma >~ 9) this is exactly the
// Gaussian mechanism's alpha D2^2 / (2 n sigma^2).
//
// Poisson sampling of clients (rate q < 1) is accounted as the authors do:
// the generic subsampled-RDP upper bound of Zhu & Wang 2019 ("Poisson
// Subsampled Renyi Differential Privacy", ICML, Thm. 5), valid for any
// mechanism given its RDP at integer orders, min'ed with the unsampled RDP;
// orders are integers (default 2..128 and 256, as RDP_ORDERS there). The
// sampled-Gaussian formula of Mironov et al. is NOT applied to the DDG sum:
// its proof is specific to the continuous Gaussian. The effective noise
// multiplier below is offered for reporting and for comparing with Gaussian
// plans; using it with RdpAccountant for q < 1 is an approximation (see
// docs/dp_accountant.md), not what DistributedDiscreteGaussianEpsilon does.
#ifndef FEDLEARN_COMMON_DP_DISTRIBUTED_DP_ACCOUNTING_H_
#define FEDLEARN_COMMON_DP_DISTRIBUTED_DP_ACCOUNTING_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/dp/rdp_accountant.h"

namespace fedlearn {

// One round of the DDG mechanism, in the integer domain.
struct DistributedDiscreteGaussian {
  double l2_sensitivity = 0;  // D2 > 0 of one client's integer vector
  // D1 > 0; absent means the generic bound sqrt(d) * D2, under which the
  // L1 term of the RDP never beats the third one. (For integer vectors
  // D1 <= D2^2 also holds; the authors pass D2 * min(sqrt(d), D2).)
  std::optional<double> l1_sensitivity;
  double sigma = 0;         // per-client discrete Gaussian scale, > 0
  int64_t num_clients = 0;  // n >= 1 whose noise is summed
  int64_t dimension = 0;    // d >= 1
};

// log(tau) in log space (-inf when n == 1): tau is what summing n discrete
// Gaussians costs over one continuous Gaussian of variance n sigma^2.
// InvalidArgument unless n >= 1 and sigma > 0 (finite).
absl::StatusOr<double> DistributedDiscreteGaussianLogTau(int64_t num_clients,
                                                         double sigma);
// exp(LogTau); underflows to 0 for sigma >~ 8.7 (every term < 1e-308).
absl::StatusOr<double> DistributedDiscreteGaussianTau(int64_t num_clients,
                                                      double sigma);

// RDP at real order > 1 of one unsampled round. InvalidArgument on
// non-positive sensitivities, sigma, n or d, or order <= 1.
absl::StatusOr<double> DistributedDiscreteGaussianRdp(
    const DistributedDiscreteGaussian& mechanism, double order);

// RDP at integer order >= 2 of one round in which every client is included
// independently with probability q in [0, 1]: q == 1 is the unsampled RDP,
// q == 0 is 0, otherwise min(Zhu-Wang Thm. 5 bound, unsampled RDP).
absl::StatusOr<double> DistributedDiscreteGaussianSampledRdp(
    const DistributedDiscreteGaussian& mechanism, double q, int order);

// Zhu & Wang 2019, Thm. 5, for ANY mechanism: RDP at integer order >= 2 of
// one Poisson-sampled round (rate q in [0, 1]) given the unsampled RDP
// `unsampled[l]` at every integer order l = 2..order (entries 0 and 1 are
// ignored), min'ed with unsampled[order]. Used for rounds that release
// several DDG sums at once (update and clipping count), whose unsampled RDP
// is the sum of theirs. InvalidArgument on a short curve or bad q.
absl::StatusOr<double> PoissonSubsampledRdp(absl::Span<const double> unsampled,
                                            double q, int order);

// Epsilon after `rounds` Poisson-sampled rounds (rate q) of a distributed
// mechanism whose unsampled RDP is the Gaussian-shaped alpha / (2 z^2): a
// DDG round with noise multiplier sqrt(n) sigma / D2 >= z and negligible tau
// (the coordinator's encoder guarantees both), sampled by Zhu-Wang at the
// default DDG orders. What the coordinator charges, up to the actual z_eff.
absl::StatusOr<EpsilonAndOrder> DistributedGaussianShapedEpsilon(double z,
                                                                 double q,
                                                                 int64_t rounds,
                                                                 double delta);

// Smallest z (bisection to 1e-6 relative; the result meets the target)
// with DistributedGaussianShapedEpsilon(z, q, rounds, delta) <= target.
// InvalidArgument on bad arguments or if z > 1000 would be needed.
absl::StatusOr<double> CalibrateDistributedNoiseMultiplier(
    double target_epsilon, double delta, double q, int rounds);

// PoissonSubsampledRdp at every order of DistributedDiscreteGaussianOrders():
// `unsampled` must cover orders 2..256 (index = order).
absl::StatusOr<std::vector<double>> PoissonSubsampledRdpAtDdgOrders(
    absl::Span<const double> unsampled, double q);

// google-research/federated's RDP_ORDERS: 2..128 and 256.
std::vector<double> DistributedDiscreteGaussianOrders();

// (eps, delta) after `rounds` rounds at sampling rate q, via the improved
// conversion (RdpConversion::kImproved). Orders must be integers >= 2.
absl::StatusOr<EpsilonAndOrder> DistributedDiscreteGaussianEpsilon(
    const DistributedDiscreteGaussian& mechanism, double q, int64_t rounds,
    double delta,
    const std::vector<double>& orders = DistributedDiscreteGaussianOrders());

// The noise multiplier z' = 1 / (D2/(sqrt(n) sigma) + sqrt(d) tau) of the
// Gaussian mechanism whose RDP alpha/(2 z'^2) is the third term above, so
// it dominates one unsampled DDG round at every order. Fails
// (FailedPrecondition) when tau's share is not negligible, i.e. when z' is
// below sqrt(n) sigma / D2 by more than `max_relative_loss`: then the DDG is
// not "a Gaussian with z = sqrt(n) sigma / D2" and operators must plan with
// DistributedDiscreteGaussianEpsilon. InvalidArgument on bad arguments.
absl::StatusOr<double> DistributedDiscreteGaussianEffectiveNoiseMultiplier(
    const DistributedDiscreteGaussian& mechanism,
    double max_relative_loss = 1e-6);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DP_DISTRIBUTED_DP_ACCOUNTING_H_
