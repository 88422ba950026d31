#include "server/round/dp_planner.h"

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "common/dp/distributed_dp_accounting.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

DpConfig Central(double z = 1.0) {
  DpConfig c;
  c.mode = DpConfig::Mode::kCentral;
  c.noise_multiplier = z;
  c.sampling_rate = 0.1;
  c.clip_norm = 2.0;
  c.delta = 1e-5;
  c.testing_seed = 7;
  return c;
}

std::unique_ptr<DpPlanner> Make(const DpConfig& c, int rounds = 10,
                                bool secure = false, DpState state = {}) {
  absl::StatusOr<std::unique_ptr<DpPlanner>> p =
      DpPlanner::Create(c, rounds, secure, state);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

PrivateSum ZeroSum(size_t d) {
  PrivateSum s;
  s.update_sum.assign(d, 0.0f);
  return s;
}

TEST(DpPlannerTest, ValidateRefusesIncoherentSettings) {
  DpConfig c = Central();
  c.mode = DpConfig::Mode::kDistributed;
  EXPECT_THAT(std::string(c.Validate(10, false).message()),
              HasSubstr("needs secure aggregation"));
  c = Central(0);
  EXPECT_THAT(std::string(c.Validate(10, false).message()),
              HasSubstr("no noise"));
  c = Central();
  c.target_epsilon = 3;
  EXPECT_THAT(std::string(c.Validate(10, false).message()),
              HasSubstr("not both"));
  for (double q : {0.0, -0.1, 1.5}) {
    c = Central();
    c.sampling_rate = q;
    EXPECT_FALSE(c.Validate(10, false).ok()) << q;
  }
  c = Central();
  c.delta = 1;
  EXPECT_FALSE(c.Validate(10, false).ok());
  c = Central();
  c.clip_norm = std::nan("");
  EXPECT_FALSE(c.Validate(10, false).ok());
  c = Central();
  c.dropout_tolerance = 1;
  EXPECT_FALSE(c.Validate(10, false).ok());
  EXPECT_TRUE(DpConfig().Validate(10, false).ok());  // off
}

TEST(DpPlannerTest, TargetEpsilonIsCalibratedForTheRunsRounds) {
  DpConfig c = Central(0);
  c.target_epsilon = 2.0;
  std::unique_ptr<DpPlanner> p = Make(c, 50);
  ASSERT_NE(p, nullptr);
  absl::StatusOr<double> expected =
      CalibrateNoiseMultiplier(2.0, c.delta, c.sampling_rate, 50);
  ASSERT_TRUE(expected.ok());
  EXPECT_DOUBLE_EQ(p->noise_multiplier(), *expected);
  RdpAccountant a;
  ASSERT_TRUE(a.AddSteps(c.sampling_rate, p->noise_multiplier(), 50).ok());
  EXPECT_LE(a.GetPrivacySpent(c.delta)->epsilon, 2.0);
}

TEST(DpPlannerTest, PoissonSamplingIncludesEachClientWithRateQ) {
  DpConfig c = Central();
  c.sampling_rate = 0.3;
  std::unique_ptr<DpPlanner> p = Make(c);
  std::vector<std::string> live;
  for (int i = 0; i < 100; ++i) live.push_back("c" + std::to_string(i));
  // 200 draws of 100 clients: 20000 Bernoulli(0.3) trials. The count's
  // stddev is sqrt(20000 * 0.21) = 64.8; 5 sigma (false failure < 6e-7).
  int total = 0;
  std::vector<int> per_client(100, 0);
  std::set<size_t> sizes;
  for (int t = 0; t < 200; ++t) {
    std::vector<std::string> cohort = p->SampleCohort(live);
    sizes.insert(cohort.size());
    total += static_cast<int>(cohort.size());
    for (const std::string& id : cohort) ++per_client[std::stoi(id.substr(1))];
  }
  EXPECT_NEAR(total, 6000, 5 * 64.8);
  // Cohort sizes vary (a fixed-size sample would not match the accountant).
  EXPECT_GT(sizes.size(), 5u);
  // Every client is sampled at its own rate: 200 trials each, 6 sigma.
  for (int i = 0; i < 100; ++i) EXPECT_NEAR(per_client[i], 60, 6 * 6.48) << i;
}

TEST(DpPlannerTest, CentralReleaseAddsNoiseOfStddevZTimesClip) {
  DpConfig c = Central(1.5);
  std::unique_ptr<DpPlanner> p = Make(c, 1000);
  absl::StatusOr<DpRoundPlan> plan = p->PlanRound(100, 10, 32, 64);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_DOUBLE_EQ(plan->expected_clients, 10.0);
  EXPECT_DOUBLE_EQ(plan->update_noise_stddev, 1.5 * 2.0);
  EXPECT_EQ(plan->task.mode(), v1::DpTaskConfig::CENTRAL);
  EXPECT_DOUBLE_EQ(plan->task.clip_norm(), 2.0);
  // The mean is (sum + N(0, (zC)^2)) / (q N); with a zero sum its sample
  // variance * (qN)^2 estimates (zC)^2 = 9. n = 100000 coordinates: the
  // variance estimate's relative stddev is sqrt(2/n) = 0.45%; 5 sigma.
  const size_t n = 100000;
  absl::StatusOr<DpRelease> r = p->Release(*plan, ZeroSum(n), 10);
  ASSERT_TRUE(r.ok()) << r.status();
  double sum = 0, sq = 0;
  for (float v : r->mean_update) {
    sum += v * 10.0;
    sq += (v * 10.0) * (v * 10.0);
  }
  const double mean = sum / n;
  const double var = sq / n - mean * mean;
  EXPECT_NEAR(var / 9.0, 1.0, 5 * std::sqrt(2.0 / n));
  EXPECT_NEAR(mean, 0.0, 5 * 3.0 / std::sqrt(double(n)));
}

TEST(DpPlannerTest, ReleaseDividesByTheExpectedNotTheActualCohort) {
  DpConfig c = Central(1e-9);  // negligible noise: isolates the denominator
  std::unique_ptr<DpPlanner> p = Make(c);
  absl::StatusOr<DpRoundPlan> plan = p->PlanRound(200, 7, 32, 64);
  ASSERT_TRUE(plan.ok());
  PrivateSum s;
  s.update_sum = {4.0f, -8.0f};
  absl::StatusOr<DpRelease> r = p->Release(*plan, s, 7);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->mean_update[0], 4.0 / 20.0, 1e-6);  // q*N = 20, not 7
  EXPECT_NEAR(r->mean_update[1], -8.0 / 20.0, 1e-6);
}

TEST(DpPlannerTest, EpsilonAfterEachRoundMatchesTheAccountant) {
  DpConfig c = Central(1.1);
  std::unique_ptr<DpPlanner> p = Make(c, 100);
  RdpAccountant reference;
  for (int round = 1; round <= 5; ++round) {
    absl::StatusOr<DpRoundPlan> plan = p->PlanRound(50, 5, 32, 64);
    ASSERT_TRUE(plan.ok());
    absl::StatusOr<DpRelease> r = p->Release(*plan, ZeroSum(3), 5);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(reference.AddSteps(0.1, 1.1, 1).ok());
    EXPECT_DOUBLE_EQ(r->epsilon, reference.GetPrivacySpent(1e-5)->epsilon);
    EXPECT_EQ(p->RoundsReleased(), round);
  }
}

TEST(DpPlannerTest, BudgetRefusesExactlyTheRoundThatWouldExceedIt) {
  DpConfig c = Central(1.0);
  // Budget between eps(3 rounds) and eps(4 rounds).
  RdpAccountant a;
  ASSERT_TRUE(a.AddSteps(0.1, 1.0, 3).ok());
  const double eps3 = a.GetPrivacySpent(1e-5)->epsilon;
  ASSERT_TRUE(a.AddSteps(0.1, 1.0, 1).ok());
  const double eps4 = a.GetPrivacySpent(1e-5)->epsilon;
  ASSERT_LT(eps3, eps4);
  c.epsilon_budget = (eps3 + eps4) / 2;
  std::unique_ptr<DpPlanner> p = Make(c, 100);
  for (int round = 1; round <= 3; ++round) {
    absl::StatusOr<DpRoundPlan> plan = p->PlanRound(50, 5, 32, 64);
    ASSERT_TRUE(p->CheckBudget(*plan).ok()) << round;
    ASSERT_TRUE(p->Release(*plan, ZeroSum(2), 5).ok());
  }
  absl::StatusOr<DpRoundPlan> fourth = p->PlanRound(50, 5, 32, 64);
  absl::Status refused = p->CheckBudget(*fourth);
  EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("3 round(s)"));
  EXPECT_LE(p->EpsilonSpent(), c.epsilon_budget);
}

TEST(DpPlannerTest, RestoredLedgerContinuesBitIdentically) {
  DpConfig c = Central(0.9);
  c.adaptive_clipping = true;
  std::unique_ptr<DpPlanner> a = Make(c, 100);
  std::unique_ptr<DpPlanner> b;
  std::vector<double> eps_a, eps_b;
  for (int round = 1; round <= 6; ++round) {
    absl::StatusOr<DpRoundPlan> plan = a->PlanRound(400, 40, 32, 64);
    PrivateSum s = ZeroSum(2);
    s.indicator_sum = 10;
    absl::StatusOr<DpRelease> r = a->Release(*plan, s, 40);
    ASSERT_TRUE(r.ok());
    eps_a.push_back(r->epsilon);
    if (round == 3) {  // "restart" from the checkpointed state
      b = Make(c, 100, false, a->state());
      EXPECT_EQ(b->clip_norm(), a->clip_norm());
    }
    if (round > 3) {
      absl::StatusOr<DpRoundPlan> pb = b->PlanRound(400, 40, 32, 64);
      absl::StatusOr<DpRelease> rb = b->Release(*pb, s, 40);
      eps_b.push_back(rb->epsilon);
    }
  }
  ASSERT_EQ(eps_b.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(eps_b[i], eps_a[i + 3]);  // bit-identical
}

TEST(DpPlannerTest, AdaptiveClippingSplitsTheNoiseMultiplier) {
  DpConfig c = Central(1.0);
  c.adaptive_clipping = true;
  c.count_noise_stddev = 2.0;  // 2 sigma_b = 4
  std::unique_ptr<DpPlanner> p = Make(c);
  absl::StatusOr<DpRoundPlan> plan = p->PlanRound(100, 10, 32, 64);
  ASSERT_TRUE(plan.ok());
  // z_update^-2 + (2 sigma_b)^-2 = z^-2  (Andrew et al. 2021, Thm. 1).
  const double z_update = plan->update_noise_stddev / c.clip_norm;
  EXPECT_NEAR(1 / (z_update * z_update) + 1 / 16.0, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(plan->indicator_noise_stddev, 4.0);
  // Count noise too small for z: refused, naming the knob.
  c.count_noise_stddev = 0.4;
  p = Make(c);
  absl::StatusOr<DpRoundPlan> bad = p->PlanRound(100, 10, 32, 64);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("dp.count_noise_stddev"));
}

TEST(DpPlannerTest, DefaultCountNoiseKeepsLargeNoiseMultipliersPlannable) {
  // z = 20 with 100 expected clients: Andrew et al.'s sigma_b = 100/20 = 5
  // would need 2 sigma_b > z. The default raises sigma_b to z, so the
  // update keeps z_update = z / sqrt(3/4) (about 1.155 z).
  DpConfig c = Central(20.0);
  c.adaptive_clipping = true;
  std::unique_ptr<DpPlanner> p = Make(c);
  absl::StatusOr<DpRoundPlan> plan = p->PlanRound(1000, 100, 32, 64);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_DOUBLE_EQ(plan->indicator_noise_stddev, 2 * 20.0);
  EXPECT_NEAR(plan->update_noise_stddev / c.clip_norm, 20.0 / std::sqrt(0.75),
              1e-9);
  EXPECT_DOUBLE_EQ(DefaultCountNoiseStddev(100, 0.8), 5.0);  // m/20 wins
}

TEST(DpPlannerTest, AdaptiveClipMovesTowardsTheTargetQuantile) {
  DpConfig c = Central(1e-3);
  c.adaptive_clipping = true;
  c.count_noise_stddev = 1e-3;  // tiny: the direction is deterministic
  c.clip_learning_rate = 0.2;
  c.target_unclipped_quantile = 0.5;
  std::unique_ptr<DpPlanner> p = Make(c);
  // All 20 expected clients unclipped: fraction 1 > 0.5, so C shrinks by
  // exp(-0.2 * 0.5).
  absl::StatusOr<DpRoundPlan> plan = p->PlanRound(200, 20, 32, 64);
  PrivateSum all = ZeroSum(1);
  all.indicator_sum = 20;  // sum of +1
  absl::StatusOr<DpRelease> r = p->Release(*plan, all, 20);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->unclipped_fraction, 1.0, 1e-3);
  EXPECT_NEAR(r->next_clip_norm, 2.0 * std::exp(-0.1), 1e-3);
  // All clipped: fraction 0 < 0.5, C grows.
  plan = p->PlanRound(200, 20, 32, 64);
  PrivateSum none = ZeroSum(1);
  none.indicator_sum = -20;
  r = p->Release(*plan, none, 20);
  EXPECT_NEAR(r->unclipped_fraction, 0.0, 1e-3);
  EXPECT_NEAR(r->next_clip_norm, 2.0 * std::exp(-0.1) * std::exp(0.1), 1e-3);
}

TEST(DpPlannerTest, DistributedRoundIsNotReleasedBelowMinSurvivors) {
  DpConfig c = Central(1.0);
  c.mode = DpConfig::Mode::kDistributed;
  c.dropout_tolerance = 0.2;
  std::unique_ptr<DpPlanner> p = Make(c, 10, /*secure=*/true);
  absl::StatusOr<DpRoundPlan> plan = p->PlanRound(100, 10, 32, 64);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->min_survivors, 8);
  EXPECT_EQ(plan->task.mode(), v1::DpTaskConfig::DISTRIBUTED);
  EXPECT_EQ(plan->task.min_clients(), 8u);
  EXPECT_EQ(plan->task.max_clients(), 10u);
  EXPECT_EQ(plan->task.rotation_seed().size(), 32u);
  PrivateSum s = ZeroSum(4);
  s.noised = true;
  absl::StatusOr<DpRelease> r = p->Release(*plan, s, 7);
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(p->RoundsReleased(), 0);  // nothing charged
  r = p->Release(*plan, s, 8);
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(p->RoundsReleased(), 1);
  // A fresh rotation seed every round.
  absl::StatusOr<DpRoundPlan> next = p->PlanRound(100, 10, 32, 64);
  EXPECT_NE(next->task.rotation_seed(), plan->task.rotation_seed());
}

DpConfig DistributedConfig(double z) {
  DpConfig c = Central(z);
  c.mode = DpConfig::Mode::kDistributed;
  c.clip_norm = 1.0;
  return c;
}

// The distributed accountant uses Kairouz et al.'s RDP of the actual encoder
// with Zhu-Wang subsampling. Its noise is at least z and tau underflows, so
// it must match the Gaussian-shaped curve alpha/(2 z^2) under the same
// subsampling bound (to float rounding of z_eff >= z), and it must be above
// the Gaussian-specific sampled formula, which it does not use.
TEST(DpPlannerTest, DistributedRoundsAreChargedTheDdgBoundWithZhuWangSampling) {
  const double z = 0.9;
  DpConfig c = DistributedConfig(z);
  std::unique_ptr<DpPlanner> p = Make(c, 100, /*secure=*/true);
  double eps = 0;
  for (int round = 1; round <= 5; ++round) {
    absl::StatusOr<DpRoundPlan> plan = p->PlanRound(1000, 100, 32, 7850);
    ASSERT_TRUE(plan.ok()) << plan.status();
    PrivateSum s = ZeroSum(7850);
    s.noised = true;
    absl::StatusOr<DpRelease> r = p->Release(*plan, s, 90);
    ASSERT_TRUE(r.ok()) << r.status();
    eps = r->epsilon;
  }
  // Independent of the encoder: the same bound from the Gaussian-shaped curve.
  const double expected =
      DistributedGaussianShapedEpsilon(z, 0.1, 5, 1e-5)->epsilon;
  EXPECT_NEAR(eps / expected, 1.0, 1e-6);
  EXPECT_LE(eps, expected * (1 + 1e-12));  // actual noise is never below z
  RdpAccountant gaussian;
  ASSERT_TRUE(gaussian.AddSteps(0.1, z, 5).ok());
  EXPECT_GT(eps, gaussian.GetPrivacySpent(1e-5)->epsilon * 1.05);
}

TEST(DpPlannerTest, DistributedTargetEpsilonIsReachedNotExceeded) {
  DpConfig c = DistributedConfig(0);
  c.target_epsilon = 6.0;
  c.adaptive_clipping = true;
  std::unique_ptr<DpPlanner> p = Make(c, 20, /*secure=*/true);
  ASSERT_NE(p, nullptr);
  double eps = 0;
  for (int round = 1; round <= 20; ++round) {
    absl::StatusOr<DpRoundPlan> plan = p->PlanRound(1000, 100, 32, 7850);
    ASSERT_TRUE(plan.ok()) << plan.status();
    ASSERT_TRUE(p->CheckBudget(*plan).ok()) << "round " << round;
    PrivateSum s = ZeroSum(7850);
    s.noised = true;
    absl::StatusOr<DpRelease> r = p->Release(*plan, s, 95);
    ASSERT_TRUE(r.ok()) << r.status();
    eps = r->epsilon;
  }
  EXPECT_LE(eps, 6.0);
  EXPECT_GT(eps, 6.0 * 0.999);  // calibration is tight
  absl::StatusOr<DpRoundPlan> extra = p->PlanRound(1000, 100, 32, 7850);
  EXPECT_TRUE(absl::IsResourceExhausted(p->CheckBudget(*extra)));
}

TEST(DpPlannerTest, RestoredDistributedLedgerContinuesBitIdentically) {
  DpConfig c = DistributedConfig(1.2);
  std::unique_ptr<DpPlanner> a = Make(c, 100, true);
  std::unique_ptr<DpPlanner> b;
  for (int round = 1; round <= 4; ++round) {
    absl::StatusOr<DpRoundPlan> plan = a->PlanRound(500, 50, 32, 100);
    PrivateSum s = ZeroSum(100);
    s.noised = true;
    absl::StatusOr<DpRelease> r = a->Release(*plan, s, 50);
    ASSERT_TRUE(r.ok());
    if (round == 2) b = Make(c, 100, true, a->state());
    if (round > 2) {
      absl::StatusOr<DpRoundPlan> pb = b->PlanRound(500, 50, 32, 100);
      absl::StatusOr<DpRelease> rb = b->Release(*pb, s, 50);
      ASSERT_TRUE(rb.ok());
      EXPECT_EQ(rb->epsilon, r->epsilon);
    }
  }
  EXPECT_EQ(b->RoundsReleased(), 4);
}

TEST(DpPlannerTest, ARunCannotSwitchModesAndLoseItsSpentBudget) {
  DpState central_spent;
  central_spent.ledger.push_back({0.1, 1.0, 3});
  absl::StatusOr<std::unique_ptr<DpPlanner>> p =
      DpPlanner::Create(DistributedConfig(1.0), 10, true, central_spent);
  EXPECT_TRUE(absl::IsFailedPrecondition(p.status())) << p.status();
  DpState distributed_spent;
  distributed_spent.distributed_rdp.assign(
      DistributedDiscreteGaussianOrders().size(), 0.5);
  distributed_spent.distributed_rounds = 2;
  p = DpPlanner::Create(Central(), 10, true, distributed_spent);
  EXPECT_TRUE(absl::IsFailedPrecondition(p.status())) << p.status();
  // The same mode resumes, and what was spent counts.
  p = DpPlanner::Create(DistributedConfig(1.0), 10, true, distributed_spent);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->RoundsReleased(), 2);
  EXPECT_GT((*p)->EpsilonSpent(), 0.0);
}

TEST(DpPlannerTest, CorruptLedgerIsDataLoss) {
  DpState bad;
  bad.ledger.push_back({1.5, 1.0, 3});  // q > 1
  absl::StatusOr<std::unique_ptr<DpPlanner>> p =
      DpPlanner::Create(Central(), 10, false, bad);
  EXPECT_TRUE(absl::IsDataLoss(p.status())) << p.status();
}

}  // namespace
}  // namespace fedlearn
