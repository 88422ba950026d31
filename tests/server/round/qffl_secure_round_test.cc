// q-FFL's secure form: the real RoundEngine with secure aggregation on a
// FakeClock, real SecAggClients and the real input encoding, the clients
// sending client/training/qffl_transform.h's values. The released model
// must equal the plaintext form's (the float64 reference of
// qffl_round_test.cc) within the stated quantization bound.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/secagg/secagg_client.h"
#include "client/training/qffl_transform.h"
#include "common/config/qffl_update.h"
#include "common/secagg/input_encoding.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "tests/server/round/stepped_secagg_client.h"
#include "tests/server/round/test_models.h"
#include "tests/server/secagg/secagg_harness.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::EncodePlainUpdate;
using ::fedlearn::testing::MakeModel;
using ::fedlearn::testing::SteppedSecAggClient;
using ::fedlearn::testing::TestPki;
using ::testing::SizeIs;

constexpr char kRunId[] = "qffl-secure-run";

RoundEngineConfig SecureQfflConfig() {
  RoundEngineConfig c;
  c.run_id = kRunId;
  c.num_rounds = 1;
  c.min_clients = 3;
  c.clients_per_round = 3;
  c.min_updates = 3;
  c.round_timeout = std::chrono::minutes(10);
  c.client_liveness = std::chrono::hours(10);
  c.max_examples_per_update = 100'000;
  c.training.learning_rate = 0.125;  // L = 8
  c.secagg.enabled = true;
  c.secagg.modulus_bits = 32;
  c.secagg.quantization_bits = 20;
  // F^q delta reaches 2.5 in this data (clip 1 would clip it).
  c.secagg.clip_range = 4.0;
  c.secagg.max_weight = 10'000;
  c.secagg.phase_timeout = std::chrono::seconds(30);
  c.secagg.ca_pem = TestPki::Get().ca_pem();
  c.strategy.kind = ServerOptimizerConfig::Kind::kQffl;
  c.strategy.qffl_q = 2.0;
  return c;
}

struct ClientRound {
  std::vector<float> delta;
  double global_loss;
  double train_loss;
};

// As client_session.cc: the q-FFL transform, then the encoding.
SteppedSecAggClient::Encoder QfflEncoder(ClientRound plan) {
  return [plan = std::move(plan)](
             const Task& task) -> absl::StatusOr<std::vector<uint32_t>> {
    TrainingResult result;
    result.delta = FlatVector(plan.delta);
    result.num_examples = 1000;
    result.train_loss = plan.train_loss;
    result.global_loss = plan.global_loss;
    absl::Status transformed = ApplyQfflTransform(
        task.training, false, task.encoding.clip_range(), &result);
    if (!transformed.ok()) return transformed;
    return EncodePlainUpdate(task, result.delta.span(), result.num_examples,
                             result.train_loss);
  };
}

class Recorder : public RoundListener {
 public:
  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override {
    summaries.push_back(summary);
    models.push_back(testing::Values(global.values));
    return absl::OkStatus();
  }
  std::vector<RoundSummary> summaries;
  std::vector<std::vector<float>> models;
};

// Round 1 of qffl_round_test.cc, and its float64 reference (the numpy
// script there).
const std::vector<float> kInitial = {0.5f, -1.25f, 2.0f, 0.25f};
const std::vector<ClientRound> kRound = {
    {{0.1f, -0.2f, 0.05f, 0.0f}, 0.5, 0.7},
    {{-0.3f, 0.1f, 0.2f, -0.1f}, 1.5, 0.9},
    {{0.05f, 0.05f, -0.4f, 0.3f}, 2.5, 1.1}};
const std::vector<double> kReference = {0.4853069215762525, -1.2287766655551406,
                                        1.911297345782233, 0.3218328263022339};

// The exact (float64) means of the sent values: a_j = mean F^q delta_j and
// b = mean h / (L H), as the plaintext form sums them.
void ExactMeans(std::vector<double>* a, double* b) {
  const double q = 2.0, lipschitz = 8.0;
  a->assign(kInitial.size(), 0.0);
  *b = 0;
  for (const ClientRound& c : kRound) {
    const double f = c.global_loss + kQfflLossOffset;
    double norm2 = 0;
    for (float x : c.delta) norm2 += double(x) * x;
    for (size_t j = 0; j < a->size(); ++j) {
      (*a)[j] += std::pow(f, q) * c.delta[j] / 3;
    }
    *b += (std::pow(f, q) + q * std::pow(f, q - 1) * lipschitz * norm2) /
          kQfflDenominatorScale / 3;
  }
}

TEST(QfflSecureRoundTest, SecureFormEqualsPlaintextWithinTheQuantizationBound) {
  FakeClock clock;
  absl::StatusOr<std::unique_ptr<RoundEngine>> created = RoundEngine::Create(
      SecureQfflConfig(), MakeModel(kInitial), 1, &clock, nullptr);
  ASSERT_TRUE(created.ok()) << created.status();
  RoundEngine& engine = **created;
  Recorder recorder;
  engine.AddListener(&recorder);
  for (int i = 0; i < 3; ++i) {
    // Large declared counts: the round must still encode unit weights.
    ASSERT_TRUE(engine.Register(TestPki::ClientId(i), 5000).ok());
  }
  engine.Tick();
  ASSERT_EQ(engine.phase(), RoundEngine::Phase::kTraining);
  std::vector<std::unique_ptr<SteppedSecAggClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(
        std::make_unique<SteppedSecAggClient>(i, QfflEncoder(kRound[i])));
    ASSERT_NO_FATAL_FAILURE(clients.back()->Begin(engine));
  }
  const v1::SecAggEncoding& encoding = clients[0]->task().encoding;
  // Every client counts once, so the round encodes with max_weight 1 and the
  // decoded mean keeps full precision.
  EXPECT_EQ(encoding.max_weight(), 1.0);
  for (int i = 0; i < 60 && engine.phase() == RoundEngine::Phase::kTraining;
       ++i) {
    for (const auto& c : clients) c->Step(engine);
    engine.Tick();
  }
  ASSERT_THAT(recorder.summaries, SizeIs(1));
  EXPECT_TRUE(recorder.summaries[0].secure);
  EXPECT_EQ(recorder.summaries[0].participants, 3);

  // Bound (common/secagg/input_encoding.h, unit weights, n = 3 inputs): each
  // decoded mean is off by eps < n / (scale * n) = c / (2^(q-1) - 1), the
  // numerator a_j and the denominator b alike. With x = a / (H b):
  //   |x_hat - x| <= eps (|a| + b) / (H b (b - eps)),
  // plus float32 rounding of the decoded values and of the model.
  std::vector<double> a;
  double b = 0;
  ExactMeans(&a, &b);
  const double eps = encoding.clip_range() /
                     (std::ldexp(1.0, encoding.quantization_bits() - 1) - 1);
  const std::vector<float>& model = recorder.models[0];
  for (size_t j = 0; j < model.size(); ++j) {
    const double x = a[j] / (kQfflDenominatorScale * b);
    const double bound =
        eps * (std::abs(a[j]) + b) / (kQfflDenominatorScale * b * (b - eps)) +
        4 * FLT_EPSILON * (std::abs(kReference[j]) + 2 * std::abs(x));
    EXPECT_NEAR(model[j], kReference[j], bound) << "coordinate " << j;
    // The bound is meaningful: far below the step itself.
    EXPECT_LT(bound, 1e-3 * std::abs(x)) << "coordinate " << j;
  }
  // The summary's loss is the clients' real mean training loss.
  EXPECT_NEAR(
      recorder.summaries[0].train_loss, 0.9,
      recorder.summaries[0].quantization_error->max_abs_loss_error + 1e-9);
}

}  // namespace
}  // namespace fedlearn
