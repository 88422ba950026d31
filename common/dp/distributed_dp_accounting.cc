#include "common/dp/distributed_dp_accounting.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// The tau sum is O(n); beyond this many clients it is refused rather than
// run for seconds (secure aggregation cohorts are far smaller).
constexpr int64_t kMaxClients = 100'000'000;

absl::Status CheckTauArgs(int64_t num_clients, double sigma) {
  if (num_clients < 1 || num_clients > kMaxClients) {
    return absl::InvalidArgumentError(
        absl::StrCat("number of clients must be in [1, ", kMaxClients,
                     "], got ", num_clients));
  }
  if (!(sigma > 0.0) || !std::isfinite(sigma)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "discrete Gaussian sigma must be finite and > 0, got ", sigma));
  }
  return absl::OkStatus();
}

absl::Status CheckMechanism(const DistributedDiscreteGaussian& m) {
  RETURN_IF_ERROR(CheckTauArgs(m.num_clients, m.sigma));
  if (!(m.l2_sensitivity > 0.0) || !std::isfinite(m.l2_sensitivity)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "L2 sensitivity must be finite and > 0, got ", m.l2_sensitivity));
  }
  if (m.l1_sensitivity.has_value() &&
      (!(*m.l1_sensitivity > 0.0) || !std::isfinite(*m.l1_sensitivity))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "L1 sensitivity must be finite and > 0, got ", *m.l1_sensitivity));
  }
  if (m.dimension < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("dimension must be >= 1, got ", m.dimension));
  }
  return absl::OkStatus();
}

double LogBinom(double n, double k) {
  return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0);
}

// Prop. 14 / Eq. 17 with tau precomputed; arguments already validated.
double RdpUnchecked(const DistributedDiscreteGaussian& m, double tau,
                    double order) {
  const double scale = std::sqrt(static_cast<double>(m.num_clients)) * m.sigma;
  const double l2 = m.l2_sensitivity / scale;
  const double d = static_cast<double>(m.dimension);
  const double half = order / 2.0;
  const double term1 = half * l2 * l2 + tau * d;
  const double term3 =
      half * (l2 + std::sqrt(d) * tau) * (l2 + std::sqrt(d) * tau);
  double rdp = std::min(term1, term3);
  if (m.l1_sensitivity.has_value()) {
    const double l1 = *m.l1_sensitivity / scale;
    rdp = std::min(rdp, half * (l2 * l2 + 2.0 * l1 * tau + tau * tau * d));
  }
  return rdp;
}

// Zhu & Wang 2019, Thm. 5, in log space, for integer alpha >= 2 and
// 0 < q < 1, given the unsampled RDP eps(l) for l = 2..alpha:
//   (alpha-1) RDP <= log[ (1-q)^(alpha-1) (alpha q - q + 1)
//                         + C(alpha,2) q^2 (1-q)^(alpha-2) e^eps(2)
//                         + 3 sum_{l=3}^alpha C(alpha,l) (1-q)^(alpha-l) q^l
//                             e^((l-1) eps(l)) ].
double ZhuWangLogA(absl::Span<const double> eps, double q, int alpha) {
  const double a = alpha;
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  std::vector<double> logs;
  logs.reserve(alpha);
  logs.push_back((a - 1.0) * log_1mq + std::log1p((a - 1.0) * q));
  logs.push_back(eps[2] + LogBinom(a, 2) + 2.0 * log_q + (a - 2.0) * log_1mq);
  for (int l = 3; l <= alpha; ++l) {
    logs.push_back((l - 1.0) * eps[l] + LogBinom(a, l) + (a - l) * log_1mq +
                   l * log_q + std::log(3.0));
  }
  const double mx = *std::max_element(logs.begin(), logs.end());
  if (!std::isfinite(mx)) return mx;
  double sum = 0.0;
  for (double x : logs) sum += std::exp(x - mx);
  return mx + std::log(sum);
}

}  // namespace

absl::StatusOr<double> DistributedDiscreteGaussianLogTau(int64_t num_clients,
                                                         double sigma) {
  RETURN_IF_ERROR(CheckTauArgs(num_clients, sigma));
  if (num_clients == 1) return -kInf;
  // Terms exp(c_k), c_k = -2 pi^2 sigma^2 k/(k+1), are largest at k = 1
  // (c_1 = -pi^2 sigma^2); sum exp(c_k - c_1) = exp(-pi^2 sigma^2
  // (k-1)/(k+1)) <= 1 with compensation, so nothing overflows or cancels.
  const double s2 = M_PI * M_PI * sigma * sigma;
  double sum = 0.0;
  double carry = 0.0;  // Neumaier compensation
  for (int64_t k = 1; k < num_clients; ++k) {
    const double kd = static_cast<double>(k);
    const double t = std::exp(-s2 * (kd - 1.0) / (kd + 1.0));
    const double next = sum + t;
    carry += (sum >= t) ? (sum - next) + t : (t - next) + sum;
    sum = next;
  }
  return std::log(10.0) - s2 + std::log(sum + carry);
}

absl::StatusOr<double> DistributedDiscreteGaussianTau(int64_t num_clients,
                                                      double sigma) {
  ASSIGN_OR_RETURN(double log_tau,
                   DistributedDiscreteGaussianLogTau(num_clients, sigma));
  return std::exp(log_tau);
}

absl::StatusOr<double> DistributedDiscreteGaussianRdp(
    const DistributedDiscreteGaussian& mechanism, double order) {
  RETURN_IF_ERROR(CheckMechanism(mechanism));
  if (!(order > 1.0) || !std::isfinite(order)) {
    return absl::InvalidArgumentError(
        absl::StrCat("RDP order must be finite and > 1, got ", order));
  }
  ASSIGN_OR_RETURN(double tau, DistributedDiscreteGaussianTau(
                                   mechanism.num_clients, mechanism.sigma));
  return RdpUnchecked(mechanism, tau, order);
}

absl::StatusOr<double> DistributedDiscreteGaussianSampledRdp(
    const DistributedDiscreteGaussian& mechanism, double q, int order) {
  RETURN_IF_ERROR(CheckMechanism(mechanism));
  if (!(q >= 0.0 && q <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling rate must be in [0, 1], got ", q));
  }
  if (order < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subsampled DDG accounting needs an integer order >= 2, got ", order));
  }
  ASSIGN_OR_RETURN(double tau, DistributedDiscreteGaussianTau(
                                   mechanism.num_clients, mechanism.sigma));
  const double unsampled = RdpUnchecked(mechanism, tau, order);
  if (q == 0.0) return 0.0;
  if (q == 1.0) return unsampled;
  std::vector<double> eps(order + 1, 0.0);
  for (int l = 2; l <= order; ++l) eps[l] = RdpUnchecked(mechanism, tau, l);
  const double sampled = ZhuWangLogA(eps, q, order) / (order - 1.0);
  return std::min(sampled, unsampled);
}

absl::StatusOr<double> PoissonSubsampledRdp(absl::Span<const double> unsampled,
                                            double q, int order) {
  if (!(q >= 0.0 && q <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling rate must be in [0, 1], got ", q));
  }
  if (order < 2 || unsampled.size() < static_cast<size_t>(order) + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("subsampled RDP at order ", order,
                     " needs the unsampled RDP at ", "orders 2..", order));
  }
  if (q == 0.0) return 0.0;
  if (q == 1.0) return unsampled[order];
  const double sampled = ZhuWangLogA(unsampled, q, order) / (order - 1.0);
  return std::min(sampled, unsampled[order]);
}

absl::StatusOr<std::vector<double>> PoissonSubsampledRdpAtDdgOrders(
    absl::Span<const double> unsampled, double q) {
  std::vector<double> out;
  for (double order : DistributedDiscreteGaussianOrders()) {
    ASSIGN_OR_RETURN(
        double r, PoissonSubsampledRdp(unsampled, q, static_cast<int>(order)));
    out.push_back(r);
  }
  return out;
}

std::vector<double> DistributedDiscreteGaussianOrders() {
  std::vector<double> orders;
  for (int a = 2; a <= 128; ++a) orders.push_back(a);
  orders.push_back(256);
  return orders;
}

absl::StatusOr<EpsilonAndOrder> DistributedGaussianShapedEpsilon(double z,
                                                                 double q,
                                                                 int64_t rounds,
                                                                 double delta) {
  if (!(z > 0) || !std::isfinite(z) || rounds < 0) {
    return absl::InvalidArgumentError(
        "noise multiplier must be finite and > 0, rounds >= 0");
  }
  const std::vector<double> orders = DistributedDiscreteGaussianOrders();
  const int max_order = static_cast<int>(orders.back());
  std::vector<double> curve(max_order + 1, 0.0);
  for (int l = 2; l <= max_order; ++l) curve[l] = l / (2.0 * z * z);
  ASSIGN_OR_RETURN(std::vector<double> rdp,
                   PoissonSubsampledRdpAtDdgOrders(curve, q));
  for (double& r : rdp) r *= static_cast<double>(rounds);
  return EpsilonFromRdp(orders, rdp, delta, RdpConversion::kImproved);
}

absl::StatusOr<double> CalibrateDistributedNoiseMultiplier(
    double target_epsilon, double delta, double q, int rounds) {
  if (!(target_epsilon > 0) || !std::isfinite(target_epsilon) ||
      !(delta > 0 && delta < 1) || !(q > 0 && q <= 1) || rounds < 1) {
    return absl::InvalidArgumentError(
        "calibration needs epsilon > 0, delta in (0, 1), q in (0, 1], "
        "rounds >= 1");
  }
  double lo = 1e-3, hi = 1000;
  ASSIGN_OR_RETURN(EpsilonAndOrder at_hi,
                   DistributedGaussianShapedEpsilon(hi, q, rounds, delta));
  if (at_hi.epsilon > target_epsilon) {
    return absl::InvalidArgumentError(
        absl::StrCat("epsilon ", target_epsilon,
                     " is unreachable with noise multiplier <= ", hi));
  }
  // Invariant: hi meets the target.
  while (hi - lo > 1e-6 * hi) {
    const double mid = 0.5 * (lo + hi);
    ASSIGN_OR_RETURN(EpsilonAndOrder e,
                     DistributedGaussianShapedEpsilon(mid, q, rounds, delta));
    (e.epsilon <= target_epsilon ? hi : lo) = mid;
  }
  return hi;
}

absl::StatusOr<EpsilonAndOrder> DistributedDiscreteGaussianEpsilon(
    const DistributedDiscreteGaussian& mechanism, double q, int64_t rounds,
    double delta, const std::vector<double>& orders) {
  if (rounds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rounds must be >= 0, got ", rounds));
  }
  std::vector<double> rdp;
  rdp.reserve(orders.size());
  for (double order : orders) {
    if (!(order >= 2.0 && order <= 1e6) || order != std::floor(order)) {
      return absl::InvalidArgumentError(
          absl::StrCat("DDG orders must be integers in [2, 1e6], got ", order));
    }
    ASSIGN_OR_RETURN(double one, DistributedDiscreteGaussianSampledRdp(
                                     mechanism, q, static_cast<int>(order)));
    rdp.push_back(static_cast<double>(rounds) * one);
  }
  return EpsilonFromRdp(orders, rdp, delta, RdpConversion::kImproved);
}

absl::StatusOr<double> DistributedDiscreteGaussianEffectiveNoiseMultiplier(
    const DistributedDiscreteGaussian& mechanism, double max_relative_loss) {
  RETURN_IF_ERROR(CheckMechanism(mechanism));
  if (!(max_relative_loss >= 0.0 && max_relative_loss < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max relative loss must be in [0, 1), got ", max_relative_loss));
  }
  ASSIGN_OR_RETURN(double tau, DistributedDiscreteGaussianTau(
                                   mechanism.num_clients, mechanism.sigma));
  const double scale =
      std::sqrt(static_cast<double>(mechanism.num_clients)) * mechanism.sigma;
  const double gaussian = scale / mechanism.l2_sensitivity;
  const double effective =
      1.0 / (mechanism.l2_sensitivity / scale +
             std::sqrt(static_cast<double>(mechanism.dimension)) * tau);
  const double loss = 1.0 - effective / gaussian;
  if (loss > max_relative_loss) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tau = ", tau,
        " is not negligible: the DDG sum is only as private "
        "as a Gaussian with noise multiplier ",
        effective, ", ", loss * 100, "% below sqrt(n) sigma / D2 = ", gaussian,
        "; account with DistributedDiscreteGaussianEpsilon"));
  }
  return effective;
}

}  // namespace fedlearn
