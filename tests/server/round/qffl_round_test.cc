// q-FFL / q-FedAvg (Li et al. ICLR 2020, Algorithm 2) through the real round
// engine in plaintext: the clients' half is client/training/qffl_transform.h,
// the coordinator's server/strategy/qffl.h. The secure form is in
// qffl_secure_round_test.cc.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/training/qffl_transform.h"
#include "common/config/qffl_update.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "server/strategy/qffl.h"
#include "tests/server/round/test_models.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::MakeModel;
using ::fedlearn::testing::Values;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kRunId[] = "qffl-run";
using Kind = ServerOptimizerConfig::Kind;

RoundEngineConfig PlainConfig(int rounds) {
  RoundEngineConfig c;
  c.secagg.enabled = false;
  c.run_id = kRunId;
  c.num_rounds = rounds;
  c.min_clients = 3;
  c.clients_per_round = 3;
  c.min_updates = 3;
  c.round_timeout = std::chrono::seconds(60);
  c.client_liveness = std::chrono::hours(10);
  c.max_examples_per_update = 1000;
  c.training.learning_rate = 0.125;  // L = 1 / lr = 8
  return c;
}

RoundEngineConfig QfflConfig(int rounds, double q) {
  RoundEngineConfig c = PlainConfig(rounds);
  c.strategy.kind = Kind::kQffl;
  c.strategy.qffl_q = q;
  return c;
}

// One client's round: its trained delta (w_bar - w), F_k and training loss.
struct ClientRound {
  std::vector<float> delta;
  double global_loss;
  double train_loss;
};

class Recorder : public RoundListener {
 public:
  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override {
    summaries.push_back(summary);
    models.push_back(Values(global.values));
    return absl::OkStatus();
  }
  std::vector<RoundSummary> summaries;
  std::vector<std::vector<float>> models;
};

const std::vector<std::string> kIds = {"site-a", "site-b", "site-c"};

// Runs `rounds` through an engine; each client applies the q-FFL transform
// (as client_session.cc does) when its task asks for it, else sends its
// delta with example count 1.
class QfflRun {
 public:
  void Start(RoundEngineConfig config, std::vector<float> initial) {
    absl::StatusOr<std::unique_ptr<RoundEngine>> engine = RoundEngine::Create(
        std::move(config), MakeModel(std::move(initial)), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    engine_->AddListener(&recorder_);
    for (const std::string& id : kIds) {
      ASSERT_TRUE(engine_->Register(id, 50).ok());
    }
  }

  void PlayRound(uint64_t round, const std::vector<ClientRound>& clients) {
    engine_->Tick();
    for (size_t k = 0; k < kIds.size(); ++k) {
      absl::StatusOr<FetchOutcome> fetched = engine_->FetchTask(kIds[k]);
      ASSERT_TRUE(fetched.ok()) << fetched.status();
      ASSERT_TRUE(fetched->task.has_value()) << fetched->reason;
      tasks.push_back(fetched->task->training);
      TrainingResult result;
      result.delta = FlatVector(clients[k].delta);
      result.num_examples = 1;
      result.train_loss = clients[k].train_loss;
      result.global_loss = clients[k].global_loss;
      if (QfflEnabled(fetched->task->training)) {
        ASSERT_TRUE(
            ApplyQfflTransform(fetched->task->training, false, 0.0, &result)
                .ok());
      }
      UpdateSubmission s;
      s.run_id = kRunId;
      s.round = round;
      s.model_version = round - 1;
      s.num_examples = result.num_examples;
      s.train_loss = result.train_loss;
      s.delta = std::move(result.delta);
      ASSERT_TRUE(engine_->SubmitUpdate(kIds[k], std::move(s)).ok());
    }
    engine_->Tick();
    ASSERT_THAT(recorder_.summaries, SizeIs(round));
  }

  const Recorder& recorder() const { return recorder_; }
  RoundEngine& engine() { return *engine_; }
  std::vector<TrainingConfig> tasks;

 private:
  FakeClock clock_;
  Recorder recorder_;
  std::unique_ptr<RoundEngine> engine_;
};

const std::vector<float> kInitial = {0.5f, -1.25f, 2.0f, 0.25f};
const std::vector<std::vector<ClientRound>> kRounds = {
    {{{0.1f, -0.2f, 0.05f, 0.0f}, 0.5, 0.7},
     {{-0.3f, 0.1f, 0.2f, -0.1f}, 1.5, 0.9},
     {{0.05f, 0.05f, -0.4f, 0.3f}, 2.5, 1.1}},
    {{{0.02f, 0.1f, -0.1f, 0.2f}, 0.4, 0.3},
     {{0.2f, -0.05f, 0.1f, 0.0f}, 1.2, 0.6},
     {{-0.1f, 0.3f, 0.0f, -0.2f}, 2.0, 1.2}},
};

// Reference: the paper's update in float64, from this script
// (/usr/bin/python3, numpy), with F = loss + 1e-10 as the paper's code:
//   import numpy as np
//   q, lr = 2.0, 0.125; L = 1.0 / lr
//   w = np.array([0.5, -1.25, 2.0, 0.25], dtype=np.float32).astype(np.float64)
//   rounds = [([[0.1,-0.2,0.05,0.0],[-0.3,0.1,0.2,-0.1],[0.05,0.05,-0.4,0.3]],
//              [0.5, 1.5, 2.5]),
//             ([[0.02,0.1,-0.1,0.2],[0.2,-0.05,0.1,0.0],[-0.1,0.3,0.0,-0.2]],
//              [0.4, 1.2, 2.0])]
//   for deltas, losses in rounds:
//       num = np.zeros(4); den = 0.0
//       for d, F in zip(deltas, losses):
//           d = np.array(d, dtype=np.float32).astype(np.float64)
//           F = F + 1e-10
//           dw = L * (-d)                      # L (w - w_bar)
//           num += np.float_power(F, q) * dw   # Delta_k
//           den += q * np.float_power(F, q - 1) * np.sum(dw * dw) \
//                  + L * np.float_power(F, q)  # h_k
//       w = w - num / den
//       print(repr(list(w)))
const std::vector<std::vector<double>> kReference = {
    {0.4853069215762525, -1.2287766655551406, 1.911297345782233,
     0.3218328263022339},
    {0.47582507663356427, -1.1290778522537777, 1.9224524574696698,
     0.2549021561804033},
};

TEST(QfflRoundTest, TwoRoundsMatchTheFloat64ReferenceOfAlgorithm2) {
  QfflRun run;
  ASSERT_NO_FATAL_FAILURE(run.Start(QfflConfig(2, 2.0), kInitial));
  EXPECT_EQ(run.engine().update_length(), kInitial.size() + 1);
  for (uint64_t r = 1; r <= 2; ++r) {
    ASSERT_NO_FATAL_FAILURE(run.PlayRound(r, kRounds[r - 1]));
    const std::vector<float>& model = run.recorder().models[r - 1];
    for (size_t j = 0; j < model.size(); ++j) {
      // float32 values, sums and model: a few float epsilons.
      EXPECT_NEAR(model[j], kReference[r - 1][j],
                  4e-7 * (1 + std::abs(kReference[r - 1][j])))
          << "round " << r << " coordinate " << j;
    }
    // The summary's loss is the clients' real mean training loss (each
    // counts once), not h; the example total counts clients.
    const RoundSummary& s = run.recorder().summaries[r - 1];
    double mean_loss = 0;
    for (const ClientRound& c : kRounds[r - 1]) mean_loss += c.train_loss / 3;
    EXPECT_NEAR(s.train_loss, mean_loss, 1e-12);
    EXPECT_EQ(s.total_examples, 3);
  }
  // Every task carried q and the paper's L = 1 / learning_rate.
  ASSERT_THAT(run.tasks, SizeIs(6));
  for (const TrainingConfig& t : run.tasks) {
    EXPECT_EQ(t.qffl_q, 2.0);
    EXPECT_EQ(t.qffl_lipschitz, 8.0);
  }
}

TEST(QfflRoundTest, ConfiguredLipschitzIsSentAndChangesOnlyTheCurvatureTerm) {
  RoundEngineConfig config = QfflConfig(1, 1.0);
  config.strategy.qffl_lipschitz = 3.0;
  QfflRun run;
  ASSERT_NO_FATAL_FAILURE(run.Start(config, kInitial));
  ASSERT_NO_FATAL_FAILURE(run.PlayRound(1, kRounds[0]));
  EXPECT_EQ(run.tasks[0].qffl_lipschitz, 3.0);
  EXPECT_EQ(run.tasks[0].qffl_q, 1.0);
}

// q = 0: Delta_k = L (w - w_bar), h_k = L, so the step is the plain mean of
// the deltas: FedAvg with every client weighted 1, bit for bit.
TEST(QfflRoundTest, QZeroIsFedAvgWithEqualWeightsBitForBit) {
  QfflRun qffl, fedavg;
  ASSERT_NO_FATAL_FAILURE(qffl.Start(QfflConfig(2, 0.0), kInitial));
  ASSERT_NO_FATAL_FAILURE(fedavg.Start(PlainConfig(2), kInitial));
  for (uint64_t r = 1; r <= 2; ++r) {
    ASSERT_NO_FATAL_FAILURE(qffl.PlayRound(r, kRounds[r - 1]));
    ASSERT_NO_FATAL_FAILURE(fedavg.PlayRound(r, kRounds[r - 1]));
    const std::vector<float>& a = qffl.recorder().models[r - 1];
    const std::vector<float>& b = fedavg.recorder().models[r - 1];
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0)
        << "round " << r;
    EXPECT_EQ(qffl.recorder().summaries[r - 1].train_loss,
              fedavg.recorder().summaries[r - 1].train_loss);
  }
  // And the step is not trivially zero.
  EXPECT_NE(qffl.recorder().models[0], kInitial);
}

TEST(QfflRoundTest, AnUpdateWithoutTheDenominatorSlotIsRejected) {
  QfflRun run;
  ASSERT_NO_FATAL_FAILURE(run.Start(QfflConfig(1, 1.0), kInitial));
  run.engine().Tick();
  ASSERT_TRUE(run.engine().FetchTask(kIds[0]).ok());
  UpdateSubmission s;
  s.run_id = kRunId;
  s.round = 1;
  s.num_examples = 1;
  s.delta = FlatVector(kInitial.size());  // D values: an old client
  const absl::Status refused = run.engine().SubmitUpdate(kIds[0], std::move(s));
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
}

TEST(QfflRoundTest, RefusedWithDifferentialPrivacyAndRobustAggregators) {
  RoundEngineConfig dp = QfflConfig(1, 1.0);
  dp.dp.mode = DpConfig::Mode::kCentral;
  dp.dp.noise_multiplier = 1.0;
  const absl::Status dp_refused = dp.Validate();
  EXPECT_TRUE(absl::IsInvalidArgument(dp_refused)) << dp_refused;
  EXPECT_THAT(std::string(dp_refused.message()),
              HasSubstr("differential privacy"));
  EXPECT_THAT(std::string(dp_refused.message()), HasSubstr("unbounded"));

  RoundEngineConfig robust = QfflConfig(1, 1.0);
  robust.robust.aggregator = RobustAggregationConfig::Aggregator::kMedian;
  const absl::Status robust_refused = robust.Validate();
  EXPECT_TRUE(absl::IsInvalidArgument(robust_refused)) << robust_refused;
  EXPECT_THAT(std::string(robust_refused.message()),
              HasSubstr("strategy.aggregator"));

  // Without q-FFL both combinations stay allowed.
  RoundEngineConfig median = PlainConfig(1);
  median.robust.aggregator = RobustAggregationConfig::Aggregator::kMedian;
  EXPECT_TRUE(median.Validate().ok()) << median.Validate();
  EXPECT_TRUE(QfflConfig(1, 1.0).Validate().ok());

  RoundEngineConfig negative = QfflConfig(1, -0.5);
  EXPECT_THAT(std::string(negative.Validate().message()),
              HasSubstr("strategy.qffl_q"));
}

TEST(QfflRoundTest, ANonPositiveDenominatorIsNotReleased) {
  QfflOptimizer optimizer(1.0, 2);
  FlatModel global = MakeModel({1.0f, 2.0f});
  const std::vector<float> sum = {0.5f, 0.5f, 0.0f};
  absl::StatusOr<FlatModel> next =
      optimizer.Step(global, AggregatedDelta{sum, 3.0});
  EXPECT_TRUE(absl::IsOutOfRange(next.status())) << next.status();
}

}  // namespace
}  // namespace fedlearn
