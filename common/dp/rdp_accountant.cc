#include "common/dp/rdp_accountant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// log(exp(a) + exp(b)).
double LogAdd(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == -kInf) return a;
  return a + std::log1p(std::exp(b - a));
}

// log(exp(a) - exp(b)) for a >= b; rounding that makes b >= a yields -inf.
double LogSub(double a, double b) {
  if (b == -kInf) return a;
  if (b >= a) return -kInf;
  return a + std::log1p(-std::exp(b - a));
}

// log(erfc(x)), finite for all finite x. Above x = 20 erfc underflows soon,
// so use the asymptotic series erfc(x) ~ exp(-x^2)/(x sqrt(pi)) *
// (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6) + 105/(16x^8)); at x >= 20 the
// truncation error is below 1e-14 relative.
double LogErfc(double x) {
  if (x <= 20.0) return std::log(std::erfc(x));
  const double r = 1.0 / (2.0 * x * x);  // 1/(2x^2)
  const double series =
      1.0 - r * (1.0 - 3.0 * r * (1.0 - 5.0 * r * (1.0 - 7.0 * r)));
  return -x * x - std::log(x) - 0.5 * std::log(M_PI) + std::log(series);
}

// log|Gamma(x)| (thread-safe variant of lgamma).
double LogAbsGamma(double x) {
  int sign = 0;
  return lgamma_r(x, &sign);
}

// log|C(alpha, k)| for real alpha >= 0 and integer k >= 0, with the sign.
double LogAbsBinom(double alpha, int64_t k, int* sign) {
  const double kd = static_cast<double>(k);
  // C(alpha,k) = prod_{j<k} (alpha-j)/(j+1): one sign flip per j > alpha.
  int64_t negatives = 0;
  if (kd > alpha + 1.0) {
    negatives = k - static_cast<int64_t>(std::floor(alpha)) - 1;
  }
  *sign = (negatives % 2 == 0) ? 1 : -1;
  return LogAbsGamma(alpha + 1.0) - LogAbsGamma(kd + 1.0) -
         LogAbsGamma(alpha - kd + 1.0);
}

// log A_alpha for integer alpha, 0 < q < 1.
double LogAInt(double q, double sigma, int64_t alpha) {
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double a = static_cast<double>(alpha);
  double log_a = -kInf;
  for (int64_t k = 0; k <= alpha; ++k) {
    const double kd = static_cast<double>(k);
    const double log_coef = std::lgamma(a + 1.0) - std::lgamma(kd + 1.0) -
                            std::lgamma(a - kd + 1.0);
    const double s = log_coef + kd * log_q + (a - kd) * log_1mq +
                     (kd * kd - kd) / (2.0 * sigma * sigma);
    log_a = LogAdd(log_a, s);
  }
  return log_a;
}

// log A_alpha for fractional alpha, 0 < q < 1 (TF Privacy _compute_log_a_frac).
double LogAFrac(double q, double sigma, double alpha) {
  double log_a0 = -kInf;
  double log_a1 = -kInf;
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double z0 = sigma * sigma * (std::log(1.0 - q) - log_q) + 0.5;
  const double sqrt2_sigma = std::sqrt(2.0) * sigma;
  const double two_var = 2.0 * sigma * sigma;
  // The terms decay super-exponentially once i passes max(alpha, z0); the cap
  // only guards against a pathological non-termination.
  constexpr int64_t kMaxTerms = 10'000'000;
  double last_s0 = -kInf;
  double last_s1 = -kInf;
  for (int64_t i = 0; i < kMaxTerms; ++i) {
    int sign = 1;
    const double log_coef = LogAbsBinom(alpha, i, &sign);
    const double id = static_cast<double>(i);
    const double j = alpha - id;
    const double log_t0 = log_coef + id * log_q + j * log_1mq;
    const double log_t1 = log_coef + j * log_q + id * log_1mq;
    const double log_e0 = std::log(0.5) + LogErfc((id - z0) / sqrt2_sigma);
    const double log_e1 = std::log(0.5) + LogErfc((z0 - j) / sqrt2_sigma);
    const double log_s0 = log_t0 + (id * id - id) / two_var + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / two_var + log_e1;
    if (sign > 0) {
      log_a0 = LogAdd(log_a0, log_s0);
      log_a1 = LogAdd(log_a1, log_s1);
    } else {
      log_a0 = LogSub(log_a0, log_s0);
      log_a1 = LogSub(log_a1, log_s1);
    }
    // TF Privacy stops at the first i with both terms below e^-30. When q or
    // 1-q is small and alpha large (e.g. q = 0.5, alpha = 64.5, sigma = 100:
    // 0.5^64.5 < e^-44) that is already i = 0, before the binomial
    // coefficients grow, and it returns log A < 0. Stopping only once both
    // terms are also falling gives the same i whenever TF's stop is sound.
    if (std::max(log_s0, log_s1) < -30.0 && log_s0 < last_s0 &&
        log_s1 < last_s1) {
      break;
    }
    last_s0 = log_s0;
    last_s1 = log_s1;
  }
  return LogAdd(log_a0, log_a1);
}

absl::Status CheckMechanism(double q, double sigma) {
  if (!(q >= 0.0 && q <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling rate must be in [0, 1], got ", q));
  }
  if (!(sigma >= 0.0) || !std::isfinite(sigma)) {
    return absl::InvalidArgumentError(
        absl::StrCat("noise multiplier must be finite and >= 0, got ", sigma));
  }
  return absl::OkStatus();
}

// Unchecked one-step RDP; arguments already validated.
double RdpUnchecked(double q, double sigma, double order) {
  if (q == 0.0) return 0.0;
  if (sigma == 0.0) return kInf;
  if (q == 1.0) return order / (2.0 * sigma * sigma);
  double log_a;
  if (order == std::floor(order)) {
    log_a = LogAInt(q, sigma, static_cast<int64_t>(order));
  } else {
    log_a = LogAFrac(q, sigma, order);
  }
  // A >= 1 mathematically; clamp rounding noise for tiny q.
  return std::max(0.0, log_a / (order - 1.0));
}

absl::Status CheckOrder(double order) {
  if (!(order > 1.0) || !std::isfinite(order)) {
    return absl::InvalidArgumentError(
        absl::StrCat("RDP order must be finite and > 1, got ", order));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<double> DefaultRdpOrders() {
  std::vector<double> orders;
  orders.reserve(151);
  for (int x = 1; x < 100; ++x) orders.push_back(1.0 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(static_cast<double>(a));
  return orders;
}

absl::StatusOr<double> SampledGaussianRdp(double q, double noise_multiplier,
                                          double order) {
  RETURN_IF_ERROR(CheckMechanism(q, noise_multiplier));
  RETURN_IF_ERROR(CheckOrder(order));
  return RdpUnchecked(q, noise_multiplier, order);
}

absl::StatusOr<EpsilonAndOrder> EpsilonFromRdp(
    const std::vector<double>& orders, const std::vector<double>& rdp,
    double delta, RdpConversion conversion) {
  if (!(delta > 0.0 && delta < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("delta must be in (0, 1), got ", delta));
  }
  if (orders.empty()) {
    return absl::InvalidArgumentError("no RDP orders");
  }
  if (orders.size() != rdp.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "got ", orders.size(), " RDP orders but ", rdp.size(), " RDP values"));
  }
  EpsilonAndOrder best{kInf, orders.front()};
  for (size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i];
    const double r = rdp[i];
    RETURN_IF_ERROR(CheckOrder(a));
    if (!(r >= 0.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("RDP must be >= 0, got ", r, " at order ", a));
    }
    double eps = kInf;
    switch (conversion) {
      case RdpConversion::kImproved:
        if (delta * delta + std::expm1(-r) >= 0.0) {
          // (0, d)-DP with d = sqrt(1 - exp(-KL)) <= sqrt(1 - exp(-rdp))
          // <= delta (KL <= RDP at any order > 1), so eps = 0.
          eps = 0.0;
        } else if (a > 1.01) {
          eps = r + std::log1p(-1.0 / a) - std::log(delta * a) / (a - 1.0);
        } else {
          eps = kInf;
        }
        break;
      case RdpConversion::kClassic:
        eps = r - std::log(delta) / (a - 1.0);
        break;
    }
    if (eps < best.epsilon) best = EpsilonAndOrder{eps, a};
  }
  best.epsilon = std::max(0.0, best.epsilon);
  return best;
}

RdpAccountant::RdpAccountant(std::vector<double> orders)
    : orders_(std::move(orders)), rdp_(orders_.size(), 0.0) {}

absl::StatusOr<RdpAccountant> RdpAccountant::FromLedger(
    std::vector<LedgerEntry> ledger, std::vector<double> orders) {
  RdpAccountant acc(std::move(orders));
  for (const LedgerEntry& e : ledger) {
    if (e.steps < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("ledger steps must be >= 0, got ", e.steps));
    }
    RETURN_IF_ERROR(acc.AddEntry(e.q, e.noise_multiplier, e.steps));
  }
  return acc;
}

absl::Status RdpAccountant::AddSteps(double q, double noise_multiplier,
                                     int steps) {
  if (steps < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("steps must be >= 0, got ", steps));
  }
  return AddEntry(q, noise_multiplier, steps);
}

absl::Status RdpAccountant::AddEntry(double q, double noise_multiplier,
                                     int64_t steps) {
  RETURN_IF_ERROR(CheckMechanism(q, noise_multiplier));
  for (double order : orders_) {
    RETURN_IF_ERROR(CheckOrder(order));
  }
  if (steps == 0) return absl::OkStatus();
  for (Entry& e : ledger_) {
    if (e.q == q && e.noise_multiplier == noise_multiplier) {
      if (steps > std::numeric_limits<int64_t>::max() - e.steps) {
        return absl::InvalidArgumentError("step count overflows int64");
      }
      e.steps += steps;
      Recompute();
      return absl::OkStatus();
    }
  }
  Entry e{q, noise_multiplier, steps, {}};
  e.per_step.reserve(orders_.size());
  for (double order : orders_) {
    e.per_step.push_back(RdpUnchecked(q, noise_multiplier, order));
  }
  ledger_.push_back(std::move(e));
  Recompute();
  return absl::OkStatus();
}

std::vector<RdpAccountant::LedgerEntry> RdpAccountant::ledger() const {
  std::vector<LedgerEntry> out;
  out.reserve(ledger_.size());
  for (const Entry& e : ledger_) {
    out.push_back(LedgerEntry{e.q, e.noise_multiplier, e.steps});
  }
  return out;
}

void RdpAccountant::Recompute() {
  std::fill(rdp_.begin(), rdp_.end(), 0.0);
  for (const Entry& e : ledger_) {
    const double n = static_cast<double>(e.steps);
    for (size_t i = 0; i < rdp_.size(); ++i) rdp_[i] += n * e.per_step[i];
  }
}

absl::StatusOr<RdpAccountant::Spent> RdpAccountant::GetPrivacySpent(
    double delta, Conversion conversion) const {
  return EpsilonFromRdp(orders_, rdp_, delta, conversion);
}

absl::StatusOr<double> RdpAccountant::EpsilonIfAdded(double q,
                                                     double noise_multiplier,
                                                     int steps,
                                                     double delta) const {
  RdpAccountant next = *this;
  RETURN_IF_ERROR(next.AddSteps(q, noise_multiplier, steps));
  ASSIGN_OR_RETURN(Spent spent, next.GetPrivacySpent(delta));
  return spent.epsilon;
}

absl::StatusOr<double> CalibrateNoiseMultiplier(double target_epsilon,
                                                double delta, double q,
                                                int steps) {
  if (!(target_epsilon > 0.0) || !std::isfinite(target_epsilon)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target epsilon must be finite and > 0, got ", target_epsilon));
  }
  if (!(q > 0.0 && q <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling rate must be in (0, 1], got ", q));
  }
  if (steps < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("steps must be >= 1, got ", steps));
  }
  // Epsilon spent with noise multiplier sigma.
  auto eps_at = [&](double sigma) -> absl::StatusOr<double> {
    RdpAccountant acc;
    RETURN_IF_ERROR(acc.AddSteps(q, sigma, steps));
    ASSIGN_OR_RETURN(RdpAccountant::Spent spent, acc.GetPrivacySpent(delta));
    return spent.epsilon;
  };
  constexpr double kMaxSigma = 1000.0;
  ASSIGN_OR_RETURN(double eps_max, eps_at(kMaxSigma));
  if (eps_max > target_epsilon) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target epsilon ", target_epsilon, " unreachable with sigma <= ",
        kMaxSigma, " (eps there is ", eps_max, ")"));
  }
  // Invariant: eps(lo) > target (sigma = 0 gives infinite eps), eps(hi) <=
  // target.
  double lo = 0.0;
  double hi = kMaxSigma;
  while (hi - lo > 1e-6 * hi) {
    const double mid = 0.5 * (lo + hi);
    ASSIGN_OR_RETURN(double eps, eps_at(mid));
    if (eps <= target_epsilon) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

}  // namespace fedlearn
