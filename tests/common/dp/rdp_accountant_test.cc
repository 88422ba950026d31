#include "common/dp/rdp_accountant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

double Rdp(double q, double sigma, double order) {
  absl::StatusOr<double> r = SampledGaussianRdp(q, sigma, order);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::numeric_limits<double>::quiet_NaN();
}

// Independent reference: log A_alpha = log E_{z~N(0,s^2)}[(mu(z)/mu0(z))^alpha]
// with mu = (1-q)N(0,s^2) + qN(1,s^2), by a fine trapezoid rule (spectrally
// accurate for these smooth, rapidly decaying integrands) over a range that
// covers both the N(0,s^2) bulk and the tilted peak near z = alpha.
double NumericalLogA(double q, double s, double alpha) {
  const double lo = -40.0 * s;
  const double hi = alpha + 40.0 * s;
  const double h = s / 100.0;
  const int n = static_cast<int>(std::ceil((hi - lo) / h));
  const double step = (hi - lo) / n;
  const double log_norm = -0.5 * std::log(2.0 * M_PI * s * s);
  auto log_ratio = [&](double z) {
    return std::log1p(q * std::expm1((2.0 * z - 1.0) / (2.0 * s * s)));
  };
  // Pass 1: log space with max subtraction (no overflow for large A).
  std::vector<double> logs(n + 1);
  double mx = -std::numeric_limits<double>::infinity();
  for (int i = 0; i <= n; ++i) {
    const double z = lo + i * step;
    logs[i] = log_norm - z * z / (2.0 * s * s) + alpha * log_ratio(z);
    mx = std::max(mx, logs[i]);
  }
  double sum = 0.0;
  for (int i = 0; i <= n; ++i) {
    const double w = (i == 0 || i == n) ? 0.5 : 1.0;
    sum += w * std::exp(logs[i] - mx);
  }
  const double log_a = mx + std::log(sum * step);
  if (log_a > 1.0) return log_a;
  // Pass 2, for A near 1: integrate A - 1 = E[(ratio^alpha - 1)] directly so
  // the small difference is not lost to rounding.
  double diff = 0.0;
  for (int i = 0; i <= n; ++i) {
    const double z = lo + i * step;
    const double w = (i == 0 || i == n) ? 0.5 : 1.0;
    const double log_q0 = log_norm - z * z / (2.0 * s * s);
    const double t = alpha * log_ratio(z);
    // q0 * (ratio^alpha - 1), without inf * 0 where q0 underflows.
    diff += w * (t > 1.0 ? std::exp(log_q0 + t) - std::exp(log_q0)
                         : std::exp(log_q0) * std::expm1(t));
  }
  return std::log1p(diff * step);
}

TEST(RdpAccountantTest, DefaultOrdersMatchOpacus) {
  std::vector<double> o = DefaultRdpOrders();
  ASSERT_EQ(o.size(), 151u);
  EXPECT_DOUBLE_EQ(o.front(), 1.1);
  EXPECT_DOUBLE_EQ(o[98], 10.9);
  EXPECT_EQ(o[99], 12.0);
  EXPECT_EQ(o.back(), 63.0);
}

TEST(RdpAccountantTest, FullBatchClosedForm) {
  for (double sigma : {0.3, 0.8, 1.0, 2.0, 100.0}) {
    for (double alpha : {1.5, 2.0, 2.5, 7.0, 10.9, 32.0, 256.0}) {
      EXPECT_DOUBLE_EQ(Rdp(1.0, sigma, alpha), alpha / (2 * sigma * sigma))
          << sigma << " " << alpha;
    }
  }
}

TEST(RdpAccountantTest, EdgeCases) {
  EXPECT_EQ(Rdp(0.0, 1.0, 8.0), 0.0);
  EXPECT_TRUE(std::isinf(Rdp(0.5, 0.0, 8.0)));
  EXPECT_FALSE(SampledGaussianRdp(-0.1, 1.0, 2.0).ok());
  EXPECT_FALSE(SampledGaussianRdp(1.1, 1.0, 2.0).ok());
  EXPECT_FALSE(SampledGaussianRdp(0.1, -1.0, 2.0).ok());
  EXPECT_FALSE(SampledGaussianRdp(0.1, 1.0, 1.0).ok());
  EXPECT_FALSE(SampledGaussianRdp(0.1, 1.0, 0.5).ok());
  RdpAccountant acc;
  EXPECT_FALSE(acc.AddSteps(0.1, 1.0, -1).ok());
  EXPECT_FALSE(acc.GetPrivacySpent(0.0).ok());
  EXPECT_FALSE(acc.GetPrivacySpent(1.0).ok());
}

TEST(RdpAccountantTest, MatchesNumericalIntegration) {
  for (double q : {0.01, 0.1, 0.5}) {
    for (double sigma : {0.8, 1.0, 2.0, 5.0}) {
      for (double alpha : {2.0, 3.0, 8.0, 32.0, 2.5, 10.5}) {
        const double expected = NumericalLogA(q, sigma, alpha) / (alpha - 1);
        const double got = Rdp(q, sigma, alpha);
        EXPECT_NEAR(got, expected, 1e-6 * std::abs(expected))
            << "q=" << q << " sigma=" << sigma << " alpha=" << alpha;
      }
    }
  }
}

TEST(RdpAccountantTest, SmallSigmaLargeFractionalOrders) {
  // Here the fractional series subtracts terms e^-30 from partial sums near
  // e^7000; a naive log-sub overflows. Check against integration and against
  // the integer neighbours.
  for (double alpha : {20.5, 64.5}) {
    const double expected = NumericalLogA(1e-3, 0.5, alpha) / (alpha - 1);
    EXPECT_NEAR(Rdp(1e-3, 0.5, alpha), expected, 1e-6 * expected) << alpha;
  }
  for (double q : {1e-5, 1e-3, 0.1}) {
    for (double sigma : {0.3, 0.5, 1.0}) {
      for (double alpha : {64.5, 128.5, 255.5}) {
        const double mid = Rdp(q, sigma, alpha);
        EXPECT_LE(Rdp(q, sigma, alpha - 0.5), mid) << q << " " << sigma;
        EXPECT_GE(Rdp(q, sigma, alpha + 0.5), mid) << q << " " << sigma;
      }
    }
  }
}

TEST(RdpAccountantTest, IntegerAndFractionalAgreeAcrossTheBoundary) {
  // The two formulas must join continuously at integer orders.
  for (double q : {1e-5, 0.01, 0.3}) {
    for (double sigma : {0.5, 1.0, 4.0}) {
      for (double alpha : {2.0, 9.0, 40.0}) {
        const double at = Rdp(q, sigma, alpha);
        const double near = Rdp(q, sigma, alpha + 1e-9);
        EXPECT_NEAR(near, at, 1e-6 * at + 1e-12)
            << q << " " << sigma << " " << alpha;
      }
    }
  }
}

TEST(RdpAccountantTest, FiniteOverRealisticRanges) {
  for (double q : {1e-5, 1e-3, 0.1, 0.9, 1.0}) {
    for (double sigma : {0.3, 1.0, 10.0, 100.0}) {
      for (double alpha : {1.1, 2.0, 10.5, 63.0, 128.0, 255.5, 256.0}) {
        const double r = Rdp(q, sigma, alpha);
        EXPECT_TRUE(std::isfinite(r)) << q << " " << sigma << " " << alpha;
        EXPECT_GE(r, 0.0);
      }
    }
  }
}

TEST(RdpAccountantTest, Monotonicity) {
  const std::vector<double> qs = {1e-4, 0.001, 0.01, 0.1, 0.5, 1.0};
  const std::vector<double> sigmas = {0.5, 0.8, 1.0, 2.0, 5.0, 20.0};
  const std::vector<double> alphas = {1.5, 2.0, 2.5, 4.0, 10.5, 32.0, 63.0};
  for (double s : sigmas) {
    for (double a : alphas) {
      for (size_t i = 1; i < qs.size(); ++i) {
        EXPECT_GT(Rdp(qs[i], s, a), Rdp(qs[i - 1], s, a)) << s << " " << a;
      }
    }
  }
  for (double q : qs) {
    for (double a : alphas) {
      for (size_t i = 1; i < sigmas.size(); ++i) {
        EXPECT_LT(Rdp(q, sigmas[i], a), Rdp(q, sigmas[i - 1], a))
            << q << " " << a;
      }
    }
  }
  for (double q : qs) {
    for (double s : sigmas) {
      for (size_t i = 1; i < alphas.size(); ++i) {
        EXPECT_GT(Rdp(q, s, alphas[i]), Rdp(q, s, alphas[i - 1]))
            << q << " " << s;
      }
    }
  }
  // Epsilon grows with steps and shrinks as delta grows.
  double prev = 0.0;
  for (int steps : {1, 10, 100, 1000}) {
    RdpAccountant acc;
    ASSERT_TRUE(acc.AddSteps(0.01, 1.1, steps).ok());
    auto spent = acc.GetPrivacySpent(1e-5);
    ASSERT_TRUE(spent.ok());
    EXPECT_GT(spent->epsilon, prev);
    prev = spent->epsilon;
  }
  RdpAccountant acc;
  ASSERT_TRUE(acc.AddSteps(0.01, 1.1, 1000).ok());
  prev = std::numeric_limits<double>::infinity();
  for (double delta : {1e-9, 1e-7, 1e-5, 1e-3}) {
    auto spent = acc.GetPrivacySpent(delta);
    ASSERT_TRUE(spent.ok());
    EXPECT_LT(spent->epsilon, prev);
    prev = spent->epsilon;
  }
}

TEST(RdpAccountantTest, CompositionIsAdditive) {
  RdpAccountant split;
  ASSERT_TRUE(split.AddSteps(0.02, 1.3, 10).ok());
  ASSERT_TRUE(split.AddSteps(0.02, 1.3, 5).ok());
  RdpAccountant whole;
  ASSERT_TRUE(whole.AddSteps(0.02, 1.3, 15).ok());
  ASSERT_EQ(split.rdp().size(), whole.rdp().size());
  for (size_t i = 0; i < whole.rdp().size(); ++i) {
    EXPECT_EQ(split.rdp()[i], whole.rdp()[i]) << split.orders()[i];
    EXPECT_DOUBLE_EQ(whole.rdp()[i], 15 * Rdp(0.02, 1.3, whole.orders()[i]));
  }
  // Heterogeneous steps add per order.
  RdpAccountant mixed;
  ASSERT_TRUE(mixed.AddSteps(0.02, 1.3, 3).ok());
  ASSERT_TRUE(mixed.AddSteps(0.05, 2.0, 4).ok());
  for (size_t i = 0; i < mixed.rdp().size(); ++i) {
    const double a = mixed.orders()[i];
    EXPECT_DOUBLE_EQ(mixed.rdp()[i],
                     3 * Rdp(0.02, 1.3, a) + 4 * Rdp(0.05, 2.0, a));
  }
}

TEST(RdpAccountantTest, CalibrationIsTight) {
  struct Case {
    double eps, delta, q;
    int steps;
  };
  for (const Case& c :
       {Case{1.0, 1e-5, 0.01, 1000}, Case{8.0, 1e-5, 0.004, 10000},
        Case{3.0, 1e-6, 1.0, 1}, Case{0.5, 1e-5, 0.1, 50}}) {
    absl::StatusOr<double> sigma =
        CalibrateNoiseMultiplier(c.eps, c.delta, c.q, c.steps);
    ASSERT_TRUE(sigma.ok()) << sigma.status();
    RdpAccountant at;
    ASSERT_TRUE(at.AddSteps(c.q, *sigma, c.steps).ok());
    EXPECT_LE(at.GetPrivacySpent(c.delta)->epsilon, c.eps);
    RdpAccountant below;
    ASSERT_TRUE(below.AddSteps(c.q, *sigma * (1 - 1e-4), c.steps).ok());
    EXPECT_GT(below.GetPrivacySpent(c.delta)->epsilon, c.eps);
  }
  // Unreachable: eps tiny with full batches and a huge number of steps.
  EXPECT_FALSE(CalibrateNoiseMultiplier(1e-3, 1e-5, 1.0, 1000000).ok());
  EXPECT_FALSE(CalibrateNoiseMultiplier(0.0, 1e-5, 0.1, 10).ok());
}

TEST(RdpAccountantTest, FullBatchEpsilonByHand) {
  // q = 1, sigma = 1, one step: RDP(alpha) = alpha/2, so
  // eps(alpha) = alpha/2 + log((alpha-1)/alpha) - (log(delta) +
  // log(alpha))/(alpha-1).
  const double delta = 1e-5;
  double best = std::numeric_limits<double>::infinity();
  double best_order = 0;
  for (int x = 1; x <= 99; ++x) {
    const double a = 1.0 + x / 10.0;
    const double e = a / 2 + std::log((a - 1) / a) -
                     (std::log(delta) + std::log(a)) / (a - 1);
    if (e < best) {
      best = e;
      best_order = a;
    }
  }
  for (int k = 12; k <= 63; ++k) {
    const double a = k;
    const double e = a / 2 + std::log((a - 1) / a) -
                     (std::log(delta) + std::log(a)) / (a - 1);
    if (e < best) {
      best = e;
      best_order = a;
    }
  }
  RdpAccountant acc;
  ASSERT_TRUE(acc.AddSteps(1.0, 1.0, 1).ok());
  auto spent = acc.GetPrivacySpent(delta);
  ASSERT_TRUE(spent.ok());
  EXPECT_NEAR(spent->epsilon, best, 1e-9);
  EXPECT_EQ(spent->order, best_order);
  // Sanity on the magnitude: the optimum of alpha/2 - log(delta)/(alpha-1)
  // is near alpha = 1 + sqrt(2 log(1/delta)) ~ 5.8, giving eps ~ 4.4.
  EXPECT_GT(best, 4.0);
  EXPECT_LT(best, 5.0);
}

}  // namespace
}  // namespace fedlearn
