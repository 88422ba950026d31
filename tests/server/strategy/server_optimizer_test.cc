// The server optimizers against computations written independently of
// them: values pasted from a float64 Python run of the update rules (the
// script is in docs/strategies.md, "Evidence"), closed forms in long
// double, and the engine's historical FedAvg arithmetic, bit for bit.
#include "server/strategy/server_optimizer.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/strategy/fedavg.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using Kind = ServerOptimizerConfig::Kind;
using Rows = std::vector<std::vector<double>>;

FlatModel Model(std::vector<float> values) {
  FlatModel m;
  m.spec.architecture = "test";
  m.spec.tensors.push_back(
      TensorSpec{"w", {static_cast<int64_t>(values.size())}, DType::kFloat32});
  m.values = FlatVector(std::move(values));
  return m;
}

std::vector<float> Values(const FlatModel& m) {
  return std::vector<float>(m.values.data(), m.values.data() + m.values.size());
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The three rounds of that script: delta = sum / divisor.
const std::vector<std::vector<float>> kSums = {
    {0.3f, -0.6f, 0.9f}, {-0.2f, 0.4f, 0.1f}, {0.05f, 0.0f, -0.4f}};
const std::vector<double> kDivisors = {3.0, 2.0, 1.0};

ServerOptimizerConfig Config(Kind kind) {
  ServerOptimizerConfig c;
  c.kind = kind;
  return c;
}

std::unique_ptr<ServerOptimizer> Make(const ServerOptimizerConfig& config,
                                      double lr = 1.0, size_t dim = 3) {
  absl::StatusOr<std::unique_ptr<ServerOptimizer>> o =
      CreateServerOptimizer(config, lr, dim, std::nullopt);
  EXPECT_TRUE(o.ok()) << o.status();
  return o.ok() ? *std::move(o) : nullptr;
}

// Runs the three rounds from {0.5, -1.25, 2}; the model after each.
std::vector<std::vector<float>> RunThreeRounds(ServerOptimizer& opt) {
  FlatModel w = Model({0.5f, -1.25f, 2.0f});
  std::vector<std::vector<float>> out;
  for (size_t r = 0; r < kSums.size(); ++r) {
    absl::StatusOr<FlatModel> next =
        opt.Step(w, AggregatedDelta{kSums[r], kDivisors[r]});
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok()) return out;
    w = *std::move(next);
    out.push_back(Values(w));
  }
  return out;
}

// Float32 state and model rounding against float64: a few ulps per step.
void ExpectNearRows(const std::vector<std::vector<float>>& actual,
                    const Rows& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t r = 0; r < expected.size(); ++r) {
    for (size_t i = 0; i < expected[r].size(); ++i) {
      EXPECT_NEAR(actual[r][i], expected[r][i],
                  1e-6 * std::max(1.0, std::fabs(expected[r][i])))
          << "round " << r + 1 << " index " << i;
    }
  }
}

TEST(ServerOptimizerTest, FedAdagradMatchesTheFloat64Reference) {
  auto opt = Make(Config(Kind::kFedAdagrad));
  ExpectNearRows(
      RunThreeRounds(*opt),
      {{0.59900990102905249, -1.34950248758186, 2.0996677740776071},
       {0.52879571305938222, -1.2790409295619034, 2.1160537965588291},
       {0.56190829548103405, -1.2790409295619034, 2.0366089213783267}});
}

TEST(ServerOptimizerTest, FedAdamMatchesTheFloat64Reference) {
  auto opt = Make(Config(Kind::kFedAdam));
  ExpectNearRows(
      RunThreeRounds(*opt),
      {{0.59090909123749102, -1.3452380954183056, 2.0967741934656892},
       {0.58428952916082777, -1.3383919405589828, 2.1991234552215557},
       {0.61007569370726256, -1.3322004282046251, 2.1771920623920393}});
}

TEST(ServerOptimizerTest, FedAdamWithFlowerBiasCorrectionMatchesFlowersRule) {
  ServerOptimizerConfig c = Config(Kind::kFedAdam);
  c.bias_correction = ServerOptimizerConfig::BiasCorrection::kFlower;
  auto opt = Make(c);
  ExpectNearRows(
      RunThreeRounds(*opt),
      {{0.56749634464413923, -1.3207104561722247, 2.0718509472034516},
       {0.56328669934378117, -1.3163567114236598, 2.1369389520829039},
       {0.5781708711340291, -1.3127828750216719, 2.1242798139669539}});
}

TEST(ServerOptimizerTest, FedYogiWithFlowersEtaMatchesTheFloat64Reference) {
  auto opt = Make(Config(Kind::kFedYogi));  // eta = 0 -> 0.01
  ExpectNearRows(
      RunThreeRounds(*opt),
      {{0.5090909091237491, -1.2595238095418306, 2.009677419346569},
       {0.50843050045305804, -1.258840849220539, 2.0198640211768937},
       {0.51099300055465624, -1.2582261849313765, 2.0176786285760269}});
}

TEST(ServerOptimizerTest, FedAvgMMatchesTheFloat64Reference) {
  auto opt = Make(Config(Kind::kFedAvgM));  // momentum 0.9, lr 1
  ExpectNearRows(
      RunThreeRounds(*opt),
      {{0.60000000397364295, -1.4500000079472859, 2.2999999920527139},
       {0.59000000605980552, -1.430000012119611, 2.6199999856452147},
       {0.63100000868240991, -1.4120000158747037, 2.5079999739180008}});
}

TEST(ServerOptimizerTest, FedAvgMNesterovMatchesTheFloat64Reference) {
  ServerOptimizerConfig c = Config(Kind::kFedAvgM);
  c.nesterov = true;
  auto opt = Make(c, /*lr=*/0.5);
  ExpectNearRows(
      RunThreeRounds(*opt),
      {{0.59500000377496087, -1.4400000075499217, 2.2849999924500786},
       {0.54050000396867592, -1.3310000079373518, 2.4539999899392329},
       {0.58395000552137688, -1.3229000096271435, 2.2035999816817542}});
}

// Closed forms, long double: m_t = (1-b1) sum_k b1^(t-k) d_k, v_t likewise
// (Adam) or sum_k d_k^2 (Adagrad), w_t = w_0 + sum_s eta_s m_s / (sqrt(v_s)
// + tau); FedAvgM's v_t = sum_k beta^(t-k) d_k.
long double ClosedForm(Kind kind, const std::vector<long double>& d, size_t t,
                       long double b1, long double b2, long double eta,
                       long double tau, bool kingma_ba) {
  long double w = 0;
  for (size_t s = 1; s <= t; ++s) {
    long double m = 0, v = 0;
    for (size_t k = 1; k <= s; ++k) {
      const long double dk = d[k - 1];
      if (kind == Kind::kFedAdagrad) {
        m = dk;
        v += dk * dk;
      } else if (kind == Kind::kFedAvgM) {
        m += std::pow(b1, static_cast<long double>(s - k)) * dk;
      } else {
        m += (1 - b1) * std::pow(b1, static_cast<long double>(s - k)) * dk;
        v += (1 - b2) * std::pow(b2, static_cast<long double>(s - k)) * dk * dk;
      }
    }
    if (kind == Kind::kFedAvgM) {
      w += eta * m;
      continue;
    }
    long double eta_s = eta;
    if (kingma_ba) {
      eta_s *= std::sqrt(1 - std::pow(b2, static_cast<long double>(s))) /
               (1 - std::pow(b1, static_cast<long double>(s)));
    }
    w += eta_s * m / (std::sqrt(v) + tau);
  }
  return w;
}

TEST(ServerOptimizerTest, EachOptimizerMatchesItsClosedFormOverFiveRounds) {
  struct Case {
    Kind kind;
    bool kingma_ba;
  };
  for (const Case& c :
       {Case{Kind::kFedAdagrad, false}, Case{Kind::kFedAdam, false},
        Case{Kind::kFedAdam, true}, Case{Kind::kFedAvgM, false}}) {
    ServerOptimizerConfig config = Config(c.kind);
    config.eta = 0.05;
    config.beta_1 = 0.8;
    config.beta_2 = 0.95;
    config.tau = 1e-2;
    config.momentum = 0.8;
    if (c.kingma_ba) {
      config.bias_correction = ServerOptimizerConfig::BiasCorrection::kAdam;
    }
    const double lr = c.kind == Kind::kFedAvgM ? 0.05 : 1.0;
    constexpr size_t kDim = 32, kRounds = 5;
    auto opt = Make(config, lr, kDim);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.1f);
    std::vector<std::vector<long double>> deltas(kDim);
    FlatModel w = Model(std::vector<float>(kDim, 0.0f));
    for (size_t t = 1; t <= kRounds; ++t) {
      std::vector<float> sum(kDim);
      for (size_t i = 0; i < kDim; ++i) {
        sum[i] = normal(rng);
        deltas[i].push_back(static_cast<long double>(sum[i]) / 2);
      }
      absl::StatusOr<FlatModel> next = opt->Step(w, AggregatedDelta{sum, 2.0});
      ASSERT_TRUE(next.ok()) << next.status();
      w = *std::move(next);
      for (size_t i = 0; i < kDim; ++i) {
        const long double expected = ClosedForm(
            c.kind, deltas[i], t, 0.8L, 0.95L, 0.05L, 1e-2L, c.kingma_ba);
        ASSERT_NEAR(w.values[i], static_cast<double>(expected), 2e-6)
            << ServerOptimizerName(c.kind) << " round " << t << " index " << i;
      }
    }
  }
}

// The arithmetic ReleaseRound used before server optimizers existed,
// copied here so a change to FedAvg's rounding cannot pass unnoticed.
std::vector<float> HistoricalFedAvg(const std::vector<float>& global,
                                    const std::vector<float>& sum,
                                    double divisor, double lr) {
  std::vector<float> next = global;
  const double factor = lr / divisor;
  for (size_t i = 0; i < next.size(); ++i) {
    next[i] =
        static_cast<float>(static_cast<double>(next[i]) + factor * sum[i]);
  }
  return next;
}

TEST(ServerOptimizerTest, FedAvgEqualsTheHistoricalArithmeticBitForBit) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (double lr : {1.0, 0.37}) {
    std::vector<float> global(257), sum(257);
    for (float& x : global) x = normal(rng);
    for (float& x : sum) x = normal(rng);
    const double divisor = 7.25;
    auto opt = Make(Config(Kind::kFedAvg), lr, global.size());
    absl::StatusOr<FlatModel> next =
        opt->Step(Model(global), AggregatedDelta{sum, divisor});
    ASSERT_TRUE(next.ok());
    EXPECT_TRUE(
        SameBits(Values(*next), HistoricalFedAvg(global, sum, divisor, lr)));
    EXPECT_EQ(opt->state(), nullptr);
  }
}

TEST(ServerOptimizerTest, ANonFiniteStepIsRefusedAndLeavesTheStateUnchanged) {
  for (Kind kind : {Kind::kFedAvgM, Kind::kFedAdam, Kind::kFedYogi,
                    Kind::kFedAdagrad, Kind::kFedAvg}) {
    auto opt = Make(Config(kind), 1.0, 2);
    const FlatModel w = Model({1.0f, 3.0e38f});
    const std::vector<float> huge = {1.0f, 3.0e38f};
    std::shared_ptr<const ServerOptimizerState> before = opt->state();
    absl::StatusOr<FlatModel> next = opt->Step(w, AggregatedDelta{huge, 0.01});
    ASSERT_FALSE(next.ok()) << ServerOptimizerName(kind);
    EXPECT_EQ(next.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_THAT(std::string(next.status().message()),
                HasSubstr("1 of 2 values that are not finite"));
    EXPECT_EQ(opt->state(), before) << ServerOptimizerName(kind);
  }
}

}  // namespace
}  // namespace fedlearn
