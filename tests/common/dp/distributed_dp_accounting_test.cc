#include "common/dp/distributed_dp_accounting.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "common/dp/rdp_accountant.h"
#include "gtest/gtest.h"
#include "tests/common/dp/reference_table.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::ReadReferenceRows;

double Tau(int64_t n, double sigma) {
  absl::StatusOr<double> t = DistributedDiscreteGaussianTau(n, sigma);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : std::nan("");
}

double Rdp(const DistributedDiscreteGaussian& m, double order) {
  absl::StatusOr<double> r = DistributedDiscreteGaussianRdp(m, order);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::nan("");
}

double SampledRdp(const DistributedDiscreteGaussian& m, double q, int order) {
  absl::StatusOr<double> r = DistributedDiscreteGaussianSampledRdp(m, q, order);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::nan("");
}

DistributedDiscreteGaussian Mechanism(double l2, std::optional<double> l1,
                                      double sigma, int64_t n, int64_t d) {
  DistributedDiscreteGaussian m;
  m.l2_sensitivity = l2;
  m.l1_sensitivity = l1;
  m.sigma = sigma;
  m.num_clients = n;
  m.dimension = d;
  return m;
}

TEST(DistributedDiscreteGaussianTest, TauOfTwoAndThreeClientsByHand) {
  // n = 2: one term, k = 1: 10 exp(-2 pi^2 sigma^2 / 2).
  // n = 3: plus k = 2: 10 exp(-2 pi^2 sigma^2 2/3).
  for (double s : {0.1, 0.3, 0.5, 1.0, 2.0}) {
    const double a = std::exp(-M_PI * M_PI * s * s);
    const double b = std::exp(-4.0 / 3.0 * M_PI * M_PI * s * s);
    EXPECT_NEAR(Tau(2, s), 10 * a, 1e-14 * 10 * a) << s;
    EXPECT_NEAR(Tau(3, s), 10 * (a + b), 1e-14 * 10 * (a + b)) << s;
  }
  // Pinned decimals (sigma 0.3): 10 e^-0.8882643961 = 4.113691073506...
  EXPECT_NEAR(Tau(2, 0.3), 4.113691073506249, 1e-12);
  // One client: no sum, tau = 0 and log tau = -inf.
  EXPECT_EQ(Tau(1, 0.5), 0.0);
  EXPECT_EQ(*DistributedDiscreteGaussianLogTau(1, 0.5),
            -std::numeric_limits<double>::infinity());
}

TEST(DistributedDiscreteGaussianTest, TauFallsWithSigmaAndGrowsWithClients) {
  for (int64_t n : {2, 10, 1000}) {
    double prev = std::numeric_limits<double>::infinity();
    for (double s : {0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0}) {
      const double t = Tau(n, s);
      EXPECT_LT(t, prev) << n << " " << s;
      prev = t;
    }
  }
  for (double s : {0.2, 0.5, 1.0}) {
    double prev = 0;
    for (int64_t n : {2, 3, 10, 100, 10000}) {
      const double t = Tau(n, s);
      EXPECT_GT(t, prev) << n << " " << s;
      prev = t;
    }
    // Each term is at most 10 e^-(pi sigma)^2, at least 10 e^-2(pi sigma)^2.
    EXPECT_LE(Tau(10000, s), 10 * 9999 * std::exp(-M_PI * M_PI * s * s));
    EXPECT_GE(Tau(10000, s), 10 * 9999 * std::exp(-2 * M_PI * M_PI * s * s));
  }
}

TEST(DistributedDiscreteGaussianTest, TauUnderflowsButLogTauStaysExact) {
  // sigma = 10: every term is below e^-987, so tau is 0 in doubles; the log
  // is still log(10) - pi^2 sigma^2 + log(sum of e^-pi^2 s^2 (k-1)/(k+1)).
  EXPECT_EQ(Tau(100, 10.0), 0.0);
  const double log_tau = *DistributedDiscreteGaussianLogTau(2, 10.0);
  EXPECT_NEAR(log_tau, std::log(10.0) - 100 * M_PI * M_PI, 1e-12);
  EXPECT_TRUE(std::isfinite(*DistributedDiscreteGaussianLogTau(100, 10.0)));
}

TEST(DistributedDiscreteGaussianTest, RdpIsTheGaussianOnesWhenTauUnderflows) {
  // tau == 0: all three terms are alpha D2^2 / (2 n sigma^2).
  for (double order : {1.5, 2.0, 8.0, 64.0}) {
    const auto m = Mechanism(50.0, 3000.0, 10.0, 100, 1 << 20);
    const double gaussian = order * 50.0 * 50.0 / (2 * 100 * 10.0 * 10.0);
    EXPECT_DOUBLE_EQ(Rdp(m, order), gaussian) << order;
    EXPECT_DOUBLE_EQ(
        Rdp(Mechanism(50.0, std::nullopt, 10.0, 100, 1 << 20), order), gaussian)
        << order;
  }
}

TEST(DistributedDiscreteGaussianTest, RdpIsTheSmallestOfThePaperTerms) {
  // n = 2, sigma = 0.5: tau = 10 e^-(pi/2)^2 = 0.848049724711...
  const double tau = 10 * std::exp(-M_PI * M_PI / 4);
  const double scale = std::sqrt(2.0) * 0.5;
  {
    // D2 = 1, d = 1, alpha = 64: term 1 = 32 l2^2 + tau wins.
    const double l2 = 1.0 / scale;
    EXPECT_NEAR(Rdp(Mechanism(1.0, 1.0, 0.5, 2, 1), 64), 32 * l2 * l2 + tau,
                1e-12);
    EXPECT_NEAR(Rdp(Mechanism(1.0, 1.0, 0.5, 2, 1), 64), 64.84804972471112,
                1e-11);
  }
  {
    // D2 = 0.5, D1 = 0.6 < sqrt(d) D2, d = 10^4, alpha = 2: the L1 term wins
    // (7193.82 vs 8481.00 and 7312.32).
    const double l2 = 0.5 / scale, l1 = 0.6 / scale;
    const double expected = l2 * l2 + 2 * l1 * tau + tau * tau * 1e4;
    EXPECT_NEAR(Rdp(Mechanism(0.5, 0.6, 0.5, 2, 10000), 2), expected,
                1e-12 * expected);
    EXPECT_NEAR(expected, 7193.822543933073, 1e-8);
    // Without D1, term 3 (l2 + 100 tau)^2 = 7312.3157 is the answer.
    const double term3 = (l2 + 100 * tau) * (l2 + 100 * tau);
    EXPECT_NEAR(Rdp(Mechanism(0.5, std::nullopt, 0.5, 2, 10000), 2), term3,
                1e-12 * term3);
    EXPECT_NEAR(term3, 7312.315698051697, 1e-8);
  }
}

TEST(DistributedDiscreteGaussianTest, SampledRdpBasicProperties) {
  const auto m = Mechanism(50.0, 200.0, 1.0, 1000, 65536);
  for (int order : {2, 3, 8, 32}) {
    EXPECT_EQ(SampledRdp(m, 1.0, order), Rdp(m, order));
    EXPECT_EQ(SampledRdp(m, 0.0, order), 0.0);
    double prev = 0;
    for (double q : {1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9}) {
      const double r = SampledRdp(m, q, order);
      EXPECT_GT(r, prev) << q << " " << order;
      EXPECT_LE(r, Rdp(m, order)) << q << " " << order;
      prev = r;
    }
  }
  // Order 2 has no l >= 3 terms: RDP = log(1 - q^2 + q^2 e^eps(2)).
  for (double q : {0.01, 0.1, 0.3}) {
    const double e2 = Rdp(m, 2);
    EXPECT_NEAR(SampledRdp(m, q, 2), std::log1p(q * q * std::expm1(e2)),
                1e-12 * std::log1p(q * q * std::expm1(e2)))
        << q;
  }
}

TEST(DistributedDiscreteGaussianTest,
     SampledBoundIsNeverBelowTheExactSampledGaussian) {
  // With tau == 0 the DDG round is the Gaussian mechanism with z = sqrt(n)
  // sigma / D2, whose sampled RDP Mironov et al. compute exactly; the generic
  // Zhu-Wang bound must not undercut it (and should be close for small q).
  const auto m = Mechanism(10.0, std::nullopt, 10.0, 4, 1000);
  const double z = std::sqrt(4.0) * 10.0 / 10.0;
  for (double q : {1e-3, 0.01, 0.1, 0.5}) {
    for (int order : {2, 4, 16, 64}) {
      const double exact = *SampledGaussianRdp(q, z, order);
      const double bound = SampledRdp(m, q, order);
      EXPECT_GE(bound, exact * (1 - 1e-9)) << q << " " << order;
      if (q <= 0.01 && order <= 16) {
        EXPECT_LE(bound, 2 * exact) << q << " " << order;
      }
    }
  }
}

// testdata/tf_privacy_reference.tsv rows from reference/tf_privacy_rdp.py, a
// port of google-research/federated distributed_dp/accounting_utils.py.
TEST(DistributedDiscreteGaussianTest, MatchesTheAuthorsAccountingCode) {
  const auto tau_rows = ReadReferenceRows("ddg_tau");
  EXPECT_EQ(tau_rows.size(), 16u);
  for (const auto& r : tau_rows) {
    ASSERT_EQ(r.size(), 4u);
    const double want = std::stod(r[3]);
    EXPECT_NEAR(Tau(std::stoll(r[1]), std::stod(r[2])), want, 1e-6 * want)
        << r[1] << " " << r[2];
  }
  const auto rdp_rows = ReadReferenceRows("ddg_rdp");
  EXPECT_EQ(rdp_rows.size(), 90u);
  for (const auto& r : rdp_rows) {
    ASSERT_EQ(r.size(), 9u);
    const double q = std::stod(r[1]);
    auto m = Mechanism(std::stod(r[2]), std::stod(r[3]), std::stod(r[4]),
                       std::stoll(r[5]), std::stoll(r[6]));
    const int order = std::stoi(r[7]);
    const double want = std::stod(r[8]);
    EXPECT_NEAR(SampledRdp(m, q, order), want, 1e-6 * want)
        << "q=" << r[1] << " l2=" << r[2] << " order=" << r[7];
    // D1 = sqrt(d) D2 is what an absent D1 means.
    if (std::stod(r[3]) == std::sqrt(std::stod(r[6])) * std::stod(r[2])) {
      m.l1_sensitivity.reset();
      EXPECT_NEAR(SampledRdp(m, q, order), want, 1e-6 * want) << r[7];
    }
  }
}

TEST(DistributedDiscreteGaussianTest, EpsilonComposesAndMatchesGaussian) {
  // tau == 0, q == 1: exactly the Gaussian mechanism's curve.
  const auto m = Mechanism(20.0, std::nullopt, 10.0, 16, 4096);
  const double z = 4 * 10.0 / 20.0;
  const std::vector<double> orders = DistributedDiscreteGaussianOrders();
  ASSERT_EQ(orders.size(), 128u);
  std::vector<double> gaussian;
  for (double a : orders) gaussian.push_back(10 * a / (2 * z * z));
  const EpsilonAndOrder want = *EpsilonFromRdp(orders, gaussian, 1e-6);
  absl::StatusOr<EpsilonAndOrder> got =
      DistributedDiscreteGaussianEpsilon(m, 1.0, 10, 1e-6);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_NEAR(got->epsilon, want.epsilon, 1e-12 * want.epsilon);
  EXPECT_EQ(got->order, want.order);
  // More rounds cost more; sampling costs less.
  double prev = 0;
  for (int64_t rounds : {1, 10, 100, 1000}) {
    const double e =
        DistributedDiscreteGaussianEpsilon(m, 0.01, rounds, 1e-6)->epsilon;
    EXPECT_GT(e, prev) << rounds;
    EXPECT_LT(e,
              DistributedDiscreteGaussianEpsilon(m, 1.0, rounds, 1e-6)->epsilon)
        << rounds;
    prev = e;
  }
  EXPECT_EQ(DistributedDiscreteGaussianEpsilon(m, 0.5, 0, 1e-6)->epsilon, 0.0);
}

TEST(DistributedDiscreteGaussianTest,
     EffectiveNoiseMultiplierOnlyWhenTauIsNegligible) {
  // sigma 10: tau underflows, z' = sqrt(n) sigma / D2 = 2.
  absl::StatusOr<double> z =
      DistributedDiscreteGaussianEffectiveNoiseMultiplier(
          Mechanism(20.0, std::nullopt, 10.0, 16, 1 << 16));
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_DOUBLE_EQ(*z, 2.0);
  // sigma 0.5, n = 100, d = 10^4: tau ~ 70, refused ...
  const auto noisy = Mechanism(20.0, std::nullopt, 0.5, 100, 10000);
  absl::StatusOr<double> refused =
      DistributedDiscreteGaussianEffectiveNoiseMultiplier(noisy);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("not negligible"),
            std::string::npos);
  // ... unless the caller accepts the loss; z' then dominates the DDG RDP.
  absl::StatusOr<double> loose =
      DistributedDiscreteGaussianEffectiveNoiseMultiplier(noisy, 0.999);
  ASSERT_TRUE(loose.ok()) << loose.status();
  EXPECT_LT(*loose, std::sqrt(100.0) * 0.5 / 20.0);
  for (double order : {2.0, 10.0, 100.0}) {
    EXPECT_LE(Rdp(noisy, order), order / (2 * *loose * *loose) * (1 + 1e-12));
  }
  // sigma 2.5: tau ~ 1e4 e^-61.7 ~ 2e-23, a 1e-19 share: accepted.
  EXPECT_TRUE(DistributedDiscreteGaussianEffectiveNoiseMultiplier(
                  Mechanism(20.0, std::nullopt, 2.5, 1000, 1 << 20))
                  .ok());
}

TEST(DistributedDiscreteGaussianTest, RejectsBadArguments) {
  const auto good = Mechanism(1.0, std::nullopt, 1.0, 10, 100);
  EXPECT_TRUE(DistributedDiscreteGaussianRdp(good, 2.0).ok());
  EXPECT_FALSE(DistributedDiscreteGaussianRdp(good, 1.0).ok());
  EXPECT_FALSE(
      DistributedDiscreteGaussianRdp(Mechanism(0, std::nullopt, 1, 10, 100), 2)
          .ok());
  EXPECT_FALSE(
      DistributedDiscreteGaussianRdp(Mechanism(1, -1.0, 1, 10, 100), 2).ok());
  EXPECT_FALSE(
      DistributedDiscreteGaussianRdp(Mechanism(1, std::nullopt, 0, 10, 100), 2)
          .ok());
  EXPECT_FALSE(
      DistributedDiscreteGaussianRdp(Mechanism(1, std::nullopt, 1, 0, 100), 2)
          .ok());
  EXPECT_FALSE(
      DistributedDiscreteGaussianRdp(Mechanism(1, std::nullopt, 1, 10, 0), 2)
          .ok());
  EXPECT_FALSE(DistributedDiscreteGaussianSampledRdp(good, 1.5, 2).ok());
  EXPECT_FALSE(DistributedDiscreteGaussianSampledRdp(good, 0.5, 1).ok());
  EXPECT_FALSE(
      DistributedDiscreteGaussianEpsilon(good, 0.5, 10, 1e-5, {2.5}).ok());
  EXPECT_FALSE(DistributedDiscreteGaussianEpsilon(good, 0.5, -1, 1e-5).ok());
  EXPECT_FALSE(DistributedDiscreteGaussianEpsilon(good, 0.5, 10, 0.0).ok());
  EXPECT_FALSE(DistributedDiscreteGaussianTau(0, 1.0).ok());
  EXPECT_FALSE(DistributedDiscreteGaussianTau(2, -1.0).ok());
  EXPECT_FALSE(
      DistributedDiscreteGaussianEffectiveNoiseMultiplier(good, 1.0).ok());
}

}  // namespace
}  // namespace fedlearn
