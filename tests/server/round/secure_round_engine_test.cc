// The round engine's secure-aggregation path, without any network: the real
// RoundEngine on a FakeClock, with real SecAggClients and the real input
// encoding standing in for the client daemons. SimulatedClient does in memory
// what client/secure_upload.cc does over gRPC: it handles each kind of server
// message once, while the server keeps offering a phase's request until the
// phase closes. Faults stop a client at a chosen point, as a crash would.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/secagg/secagg_client.h"
#include "common/dp/l2_clipping.h"
#include "common/dp/noise_source.h"
#include "common/dp/private_input_codec.h"
#include "common/secagg/graph.h"
#include "common/secagg/input_encoding.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "tests/server/round/test_models.h"
#include "tests/server/secagg/secagg_harness.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::MakeModel;
using ::fedlearn::testing::TestPki;
using ::fedlearn::testing::Values;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kRunId[] = "secure-run";
constexpr size_t kDimension = 12;
constexpr Duration kRoundTimeout = std::chrono::minutes(10);
constexpr Duration kPhaseTimeout = std::chrono::seconds(30);
constexpr Duration kOneSecond = std::chrono::seconds(1);

RoundEngineConfig SecureConfig(int clients) {
  RoundEngineConfig c;
  c.run_id = kRunId;
  c.num_rounds = 1;
  c.min_clients = clients;
  c.clients_per_round = clients;
  c.min_updates = 1;
  c.round_timeout = kRoundTimeout;
  c.max_round_attempts = 2;
  c.client_liveness = std::chrono::hours(10);
  c.seed = 11;
  c.max_examples_per_update = 100'000;
  c.secagg.enabled = true;
  c.secagg.modulus_bits = 32;
  c.secagg.quantization_bits = 20;
  c.secagg.clip_range = 1.0;
  c.secagg.max_weight = 10'000;
  c.secagg.phase_timeout = kPhaseTimeout;
  // As the coordinator: every key advertisement is checked against the CA.
  c.secagg.ca_pem = TestPki::Get().ca_pem();
  return c;
}

// What one client trained, and where (if anywhere) it stops.
struct ClientPlan {
  uint64_t num_examples = 1000;
  double train_loss = 1.0;
  std::vector<float> delta;
  // Goes silent right after delivering this many secure-aggregation
  // messages (0: never advertises; 2: after sharing keys). -1: never.
  int halt_after_messages = -1;
  // Uploads a masked input one value short.
  bool truncate_masked_input = false;
  // Hostile: advertises its keys with this client's certificate.
  int advertise_with_cert_of = -1;
  // Hostile: every key-share ciphertext it sends is corrupted.
  bool corrupt_shares = false;
  // Hostile: instead of masking its input it aborts blaming these ids.
  std::vector<std::string> false_blame;
};

// Deltas inside the clip range (nothing clipped), weights below max_weight.
std::vector<ClientPlan> RandomPlans(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(-0.9f, 0.9f);
  std::uniform_int_distribution<uint64_t> examples(200, 9500);
  std::uniform_real_distribution<double> loss(0.1, 3.0);
  std::vector<ClientPlan> plans(n);
  for (ClientPlan& p : plans) {
    p.num_examples = examples(rng);
    p.train_loss = loss(rng);
    p.delta.resize(kDimension);
    for (float& x : p.delta) x = value(rng);
  }
  return plans;
}

// One client daemon's secure upload, stepped by hand.
class SimulatedClient {
 public:
  SimulatedClient(int index, ClientPlan plan)
      : index_(index), id_(TestPki::ClientId(index)), plan_(std::move(plan)) {}

  const std::string& id() const { return id_; }
  const Task& task() const { return *task_; }
  bool active() const { return active_; }
  bool finished() const { return finished_; }
  const absl::Status& error() const { return error_; }
  const absl::Status& masked_input_status() const {
    return masked_input_status_;
  }

  // Fetches the round's task, encodes the update and prepares AdvertiseKeys.
  void Begin(RoundEngine& engine) {
    absl::StatusOr<FetchOutcome> fetched = engine.FetchTask(id_);
    ASSERT_TRUE(fetched.ok()) << fetched.status();
    ASSERT_TRUE(fetched->task.has_value()) << id_ << ": " << fetched->reason;
    task_ = *std::move(fetched->task);
    ASSERT_NE(task_->secagg, nullptr)
        << "the task carries no secure-aggregation config";
    std::vector<uint32_t> values;
    if (task_->dp != nullptr) {
      // As client/update_encoding.cc: clip, then the DP codec.
      std::vector<float> delta = plan_.delta;
      absl::StatusOr<ClipOutcome> clip =
          ClipToL2Norm(absl::MakeSpan(delta), task_->dp->clip_norm());
      ASSERT_TRUE(clip.ok()) << clip.status();
      absl::StatusOr<PrivateInputCodec> codec =
          PrivateInputCodec::Create(*task_->dp, task_->encoding, delta.size());
      ASSERT_TRUE(codec.ok()) << codec.status();
      NoiseSource rng = NoiseSource::FromSeedForTesting(1000 + index_);
      absl::StatusOr<std::vector<uint32_t>> encoded =
          codec->Encode(delta, !clip->clipped, rng);
      ASSERT_TRUE(encoded.ok()) << encoded.status();
      values = *std::move(encoded);
    } else {
      EncodeWithoutDp(&values);
    }
    absl::StatusOr<std::unique_ptr<SecAggClient>> client = SecAggClient::Create(
        *task_->secagg, TestPki::Get().Identity(index_), std::move(values));
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    absl::StatusOr<v1::SecAggClientMessage> first = client_->Start();
    ASSERT_TRUE(first.ok()) << first.status();
    outgoing_ = *std::move(first);
    if (plan_.advertise_with_cert_of >= 0) {
      outgoing_->mutable_advertise_keys()->set_certificate_pem(
          TestPki::Get().cert_pem(plan_.advertise_with_cert_of));
    }
    active_ = plan_.halt_after_messages != 0;
  }

  void EncodeWithoutDp(std::vector<uint32_t>* values) {
    EncodingParameters params;
    params.modulus_bits = static_cast<int>(task_->encoding.modulus_bits());
    params.quantization_bits =
        static_cast<int>(task_->encoding.quantization_bits());
    params.clip_range = task_->encoding.clip_range();
    params.max_weight = task_->encoding.max_weight();
    params.max_clients = static_cast<int>(task_->encoding.max_clients());
    absl::StatusOr<InputEncoder> encoder = InputEncoder::Create(params);
    ASSERT_TRUE(encoder.ok()) << encoder.status();
    absl::StatusOr<EncodedUpdate> encoded =
        encoder->Encode(plan_.delta, plan_.num_examples, plan_.train_loss);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    *values = std::move(encoded->values);
  }

  // One exchange, as one iteration of SecureUpload's loop.
  void Step(RoundEngine& engine) {
    if (!active_) return;
    absl::StatusOr<SecAggExchangeReply> reply = engine.SecAggExchange(
        id_, task_->run_id, task_->round, outgoing_ ? &*outgoing_ : nullptr);
    if (!reply.ok()) return Stop(reply.status());
    if (outgoing_ && ++delivered_ == plan_.halt_after_messages) {
      active_ = false;  // crashed right after this message went out
      return;
    }
    outgoing_.reset();
    if (done_) {
      finished_ = true;
      active_ = false;
      return;
    }
    if (reply->aborted) return Stop(absl::AbortedError(reply->reason));
    if (!reply->message || reply->message->message_case() == last_handled_)
      return;
    last_handled_ = reply->message->message_case();
    if (!plan_.false_blame.empty() &&
        reply->message->has_masked_input_request()) {
      v1::SecAggClientMessage abort;
      abort.set_session_id(task_->secagg->session_id());
      abort.set_round(task_->round);
      abort.mutable_abort()->set_reason("made-up blame");
      for (const std::string& id : plan_.false_blame)
        abort.mutable_abort()->add_blamed(id);
      (void)engine.SecAggExchange(id_, task_->run_id, task_->round, &abort);
      return Stop(absl::AbortedError("lodged false blame"));
    }
    absl::StatusOr<SecAggClient::Reply> step = client_->Handle(*reply->message);
    if (!step.ok()) {
      // As client/secure_upload.cc: the Abort (with any blame) goes out.
      if (client_->abort_message()) {
        (void)engine.SecAggExchange(id_, task_->run_id, task_->round,
                                    &*client_->abort_message());
      }
      return Stop(step.status());
    }
    if (plan_.corrupt_shares && step->message &&
        step->message->has_share_keys_response()) {
      for (auto& s :
           *step->message->mutable_share_keys_response()->mutable_shares()) {
        (*s.mutable_ciphertext())[0] ^= 0x01;
      }
    }
    if (step->masked_input) {
      std::vector<uint32_t> masked = *std::move(step->masked_input);
      if (plan_.truncate_masked_input) masked.pop_back();
      masked_input_status_ = engine.SubmitMaskedInput(
          id_, task_->run_id, task_->round, std::move(masked));
      if (!masked_input_status_.ok()) return Stop(masked_input_status_);
    }
    outgoing_ = std::move(step->message);
    if (step->done) {
      done_ = true;
      if (!outgoing_) {
        finished_ = true;
        active_ = false;
      }
    }
  }

 private:
  void Stop(absl::Status why) {
    error_ = std::move(why);
    active_ = false;
  }

  const int index_;
  const std::string id_;
  const ClientPlan plan_;
  std::optional<Task> task_;
  std::unique_ptr<SecAggClient> client_;
  std::optional<v1::SecAggClientMessage> outgoing_;
  v1::SecAggServerMessage::MessageCase last_handled_ =
      v1::SecAggServerMessage::MESSAGE_NOT_SET;
  int delivered_ = 0;
  bool done_ = false;
  bool finished_ = false;
  bool active_ = false;
  absl::Status error_;
  absl::Status masked_input_status_;
};

using Clients = std::vector<std::unique_ptr<SimulatedClient>>;

class RecordingListener : public RoundListener {
 public:
  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override {
    summaries.push_back(summary);
    return absl::OkStatus();
  }
  void OnRoundRetried(uint64_t round, int attempt,
                      const std::string& reason) override {
    retries.push_back({round, attempt, reason});
  }
  void OnClientBlamed(uint64_t round, int attempt, const std::string& client_id,
                      const std::string& reason) override {
    blamed.push_back({round, attempt, client_id, reason});
  }
  void OnPhaseStarted(uint64_t round, int attempt,
                      const std::string& phase) override {
    phases.push_back(absl::StrCat(round, "/", attempt, " ", phase));
  }
  std::vector<std::string> phases;  // "round/attempt phase"
  struct Blame {
    uint64_t round;
    int attempt;
    std::string client_id;
    std::string reason;
  };
  std::vector<Blame> blamed;

  struct Retry {
    uint64_t round;
    int attempt;
    std::string reason;
  };
  std::vector<RoundSummary> summaries;
  std::vector<Retry> retries;
};

// Every client takes one exchange, then the coordinator's driver ticks; the
// clock does not move. Stops early once the run ended or every client stopped.
void Pump(RoundEngine& engine, const Clients& clients, int iterations = 40) {
  for (int i = 0; i < iterations; ++i) {
    for (const auto& c : clients) c->Step(engine);
    engine.Tick();
    const RoundEngine::Phase phase = engine.phase();
    if (phase == RoundEngine::Phase::kFinished ||
        phase == RoundEngine::Phase::kFailed) {
      return;
    }
    if (std::none_of(clients.begin(), clients.end(),
                     [](const auto& c) { return c->active(); })) {
      return;
    }
  }
}

// The example-weighted mean the engine should add, in double precision.
struct WeightedMean {
  std::vector<double> delta = std::vector<double>(kDimension, 0.0);
  double loss = 0;
  double total_weight = 0;  // Σ w, w = examples / max_weight
  int count = 0;            // summed encoded vectors
};

WeightedMean MeanOf(const std::vector<ClientPlan>& plans,
                    const std::vector<int>& included, double max_weight) {
  WeightedMean m;
  double examples = 0;
  for (int i : included) {
    const double n = static_cast<double>(plans[i].num_examples);
    for (size_t j = 0; j < kDimension; ++j) m.delta[j] += n * plans[i].delta[j];
    m.loss += n * plans[i].train_loss;
    examples += n;
  }
  for (double& d : m.delta) d /= examples;
  m.loss /= examples;
  m.total_weight = examples / max_weight;
  m.count = static_cast<int>(included.size());
  return m;
}

// Decoding error bound (common/secagg/input_encoding.h): each of the `count`
// summed values is off by less than one quantization step, both in the
// numerator (step = range / (2^(q-1) - 1)) and in the weight element
// (step 1 / (2^(q-1) - 1)); dividing by the weight sum W gives
//   |decoded - exact| < (count * step + |exact| * count * wstep) / (W - count *
//   wstep).
double DecodingBound(double exact, double range, int quantization_bits,
                     int count, double total_weight) {
  const double levels = std::ldexp(1.0, quantization_bits - 1) - 1;
  const double step = range / levels;
  const double wstep = 1.0 / levels;
  return (count * step + std::abs(exact) * count * wstep) /
         (total_weight - count * wstep);
}

void ExpectModelIsOldPlusMean(const std::vector<float>& old_values,
                              const FlatModel& next, const WeightedMean& mean,
                              const RoundEngineConfig& config) {
  ASSERT_EQ(next.values.size(), old_values.size());
  for (size_t j = 0; j < kDimension; ++j) {
    const double expected = old_values[j] + mean.delta[j];
    const double bound =
        DecodingBound(mean.delta[j], config.secagg.clip_range,
                      config.secagg.quantization_bits, mean.count,
                      mean.total_weight) +
        4 * FLT_EPSILON * (std::abs(old_values[j]) + std::abs(mean.delta[j]));
    EXPECT_NEAR(next.values[j], expected, bound) << "coordinate " << j;
  }
}

class SecureRoundEngineTest : public ::testing::Test {
 protected:
  // Creates the engine, registers `n` clients and opens round 1.
  void StartRound(RoundEngineConfig config, std::vector<float> initial = {}) {
    config_ = config;
    if (initial.empty()) {
      std::mt19937 rng(3);
      std::uniform_real_distribution<float> value(-1.0f, 1.0f);
      initial.resize(kDimension);
      for (float& x : initial) x = value(rng);
    }
    initial_ = initial;
    absl::StatusOr<std::unique_ptr<RoundEngine>> engine = RoundEngine::Create(
        config, MakeModel(std::move(initial)), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    engine_->AddListener(&listener_);
    const int registered =
        std::max(config.min_clients, config.clients_per_round);
    for (int i = 0; i < registered; ++i) {
      // Declares at least what RandomPlans trains on (<= 9500), so the
      // round's max_weight (the largest declaration) clamps no one.
      ASSERT_TRUE(engine_->Register(TestPki::ClientId(i), 10'000).ok());
    }
    engine_->Tick();
    ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
  }

  // A SimulatedClient per plan (client i follows plans[i]), each with its task.
  Clients BeginAll(const std::vector<ClientPlan>& plans) {
    Clients clients;
    for (size_t i = 0; i < plans.size(); ++i) {
      clients.push_back(
          std::make_unique<SimulatedClient>(static_cast<int>(i), plans[i]));
      clients.back()->Begin(*engine_);
    }
    return clients;
  }

  RoundEngineConfig config_;
  FakeClock clock_;
  std::vector<float> initial_;
  std::unique_ptr<RoundEngine> engine_;
  RecordingListener listener_;
};

class FullSecureRoundTest : public SecureRoundEngineTest,
                            public ::testing::WithParamInterface<int> {};

TEST_P(FullSecureRoundTest, NewModelIsOldPlusExampleWeightedMeanOfDeltas) {
  const int n = GetParam();
  RoundEngineConfig config = SecureConfig(n);
  // At the default 10% planned dropout, 20 bits, 25 clients still need the
  // full graph; at 5% SecAgg+ gives them a sparse one (k = 18).
  config.secagg.dropout_rate = 0.05;
  ASSERT_NO_FATAL_FAILURE(StartRound(config));
  const std::vector<ClientPlan> plans = RandomPlans(n, 100 + n);
  Clients clients = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  // Up to 20 clients the graph is complete; beyond, SecAgg+ picks a sparse one.
  const v1::SecAggConfig& protocol = *clients[0]->task().secagg;
  ASSERT_EQ(protocol.cohort_size(), n);
  if (n <= kFullGraphMaxClients) {
    EXPECT_EQ(protocol.degree(), static_cast<uint32_t>(n - 1));
  } else {
    EXPECT_LT(protocol.degree(), static_cast<uint32_t>(n - 1))
        << "expected a SecAgg+ graph";
  }

  Pump(*engine_, clients);

  for (const auto& c : clients) {
    EXPECT_TRUE(c->finished()) << c->id() << ": " << c->error();
  }
  ASSERT_THAT(listener_.summaries, SizeIs(1));
  const RoundSummary& summary = listener_.summaries[0];
  EXPECT_EQ(summary.round, 1u);
  EXPECT_EQ(summary.participants, n);
  EXPECT_EQ(summary.selected, n);
  EXPECT_TRUE(summary.secure);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);

  std::vector<int> everyone(n);
  for (int i = 0; i < n; ++i) everyone[i] = i;
  const WeightedMean mean = MeanOf(plans, everyone, config_.secagg.max_weight);
  ExpectModelIsOldPlusMean(initial_, *engine_->global_model(), mean, config_);
  EXPECT_NEAR(summary.train_loss, mean.loss,
              DecodingBound(mean.loss, kMaxEncodedLoss,
                            config_.secagg.quantization_bits, mean.count,
                            mean.total_weight));
}

INSTANTIATE_TEST_SUITE_P(CohortSizes, FullSecureRoundTest,
                         ::testing::Values(3, 5, 12, 25),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat(info.param, "Clients");
                         });

TEST_F(SecureRoundEngineTest, SecureAttemptReportsEachPhaseInOrder) {
  ASSERT_NO_FATAL_FAILURE(StartRound(SecureConfig(3)));
  EXPECT_THAT(listener_.phases, ElementsAre("1/1 Training"));
  Clients clients = BeginAll(RandomPlans(3, 5));
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Pump(*engine_, clients);
  ASSERT_THAT(listener_.summaries, SizeIs(1));
  EXPECT_THAT(listener_.phases,
              ElementsAre("1/1 Training", "1/1 AdvertiseKeys", "1/1 ShareKeys",
                          "1/1 MaskedInputCollection", "1/1 ConsistencyCheck",
                          "1/1 Unmasking", "1/1 Releasing"));
}

TEST_F(SecureRoundEngineTest,
       PlaintextUpdateInSecureRoundIsRefusedAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartRound(SecureConfig(3)));
  const std::vector<ClientPlan> plans = RandomPlans(3, 7);
  Clients clients = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  UpdateSubmission plaintext;
  plaintext.run_id = kRunId;
  plaintext.round = 1;
  plaintext.model_version = 0;
  plaintext.num_examples = 500;
  plaintext.train_loss = 0.5;
  plaintext.delta = FlatVector(std::vector<float>(kDimension, 0.75f));
  absl::Status refused =
      engine_->SubmitUpdate(clients[1]->id(), std::move(plaintext));
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("secure aggregation"));

  // The refusal did not count as the client's answer: it can still fetch its
  // task and take part, and the plaintext delta is in no aggregate.
  absl::StatusOr<FetchOutcome> refetch = engine_->FetchTask(clients[1]->id());
  ASSERT_TRUE(refetch.ok()) << refetch.status();
  EXPECT_TRUE(refetch->task.has_value()) << refetch->reason;

  Pump(*engine_, clients);
  ASSERT_THAT(listener_.summaries, SizeIs(1));
  EXPECT_EQ(listener_.summaries[0].participants, 3);
  ExpectModelIsOldPlusMean(initial_, *engine_->global_model(),
                           MeanOf(plans, {0, 1, 2}, config_.secagg.max_weight),
                           config_);
}

TEST_F(SecureRoundEngineTest,
       ClientThatSentASecAggMessageCannotFetchTheTaskAgain) {
  ASSERT_NO_FATAL_FAILURE(StartRound(SecureConfig(3)));
  Clients clients = BeginAll(RandomPlans(3, 8));
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  // Before any secure-aggregation message a re-fetch (broken download) works.
  absl::StatusOr<FetchOutcome> before = engine_->FetchTask(clients[0]->id());
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_TRUE(before->task.has_value()) << before->reason;

  clients[0]->Step(*engine_);  // delivers AdvertiseKeys
  ASSERT_TRUE(clients[0]->error().ok()) << clients[0]->error();

  absl::StatusOr<FetchOutcome> after = engine_->FetchTask(clients[0]->id());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_FALSE(after->task.has_value())
      << "the client would train the round twice";
  EXPECT_THAT(after->reason, HasSubstr("answered"));
}

TEST_F(SecureRoundEngineTest,
       ClientDroppingAfterSharingKeysIsLeftOutAtThePhaseTimeout) {
  ASSERT_NO_FATAL_FAILURE(StartRound(SecureConfig(5)));
  std::vector<ClientPlan> plans = RandomPlans(5, 9);
  plans[2].halt_after_messages =
      2;  // AdvertiseKeys, ShareKeysResponse, then gone
  Clients clients = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  Pump(*engine_, clients);
  clock_.Advance(kPhaseTimeout - kOneSecond);
  Pump(*engine_, clients);
  EXPECT_THAT(listener_.summaries, IsEmpty())
      << "masked-input collection closed early";
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);

  clock_.Advance(2 * kOneSecond);
  Pump(*engine_, clients);

  ASSERT_THAT(listener_.summaries, SizeIs(1));
  EXPECT_EQ(listener_.summaries[0].participants, 4);
  EXPECT_TRUE(listener_.summaries[0].secure);
  for (int i : {0, 1, 3, 4}) {
    EXPECT_TRUE(clients[i]->finished())
        << clients[i]->id() << ": " << clients[i]->error();
  }
  const WeightedMean survivors =
      MeanOf(plans, {0, 1, 3, 4}, config_.secagg.max_weight);
  ExpectModelIsOldPlusMean(initial_, *engine_->global_model(), survivors,
                           config_);
  EXPECT_NEAR(listener_.summaries[0].train_loss, survivors.loss,
              DecodingBound(survivors.loss, kMaxEncodedLoss,
                            config_.secagg.quantization_bits, survivors.count,
                            survivors.total_weight));
}

TEST_F(SecureRoundEngineTest,
       ClientThatNeverAdvertisesIsLeftOutAtTheRoundDeadline) {
  ASSERT_NO_FATAL_FAILURE(StartRound(SecureConfig(5)));
  std::vector<ClientPlan> plans = RandomPlans(5, 10);
  plans[1].halt_after_messages = 0;  // fetched the task, died while training
  Clients clients = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  // Advertising stays open while clients may still be training, i.e. well past
  // the phase timeout, until the round's deadline.
  Pump(*engine_, clients);
  clock_.Advance(kRoundTimeout - kOneSecond);
  Pump(*engine_, clients);
  EXPECT_THAT(listener_.summaries, IsEmpty())
      << "advertising closed before the deadline";
  EXPECT_TRUE(clients[0]->active());

  clock_.Advance(2 * kOneSecond);
  Pump(*engine_, clients);

  ASSERT_THAT(listener_.summaries, SizeIs(1));
  EXPECT_EQ(listener_.summaries[0].participants, 4);
  ExpectModelIsOldPlusMean(
      initial_, *engine_->global_model(),
      MeanOf(plans, {0, 2, 3, 4}, config_.secagg.max_weight), config_);
}

TEST_F(SecureRoundEngineTest, TooManyDropoutsRetryTheRoundThenFailTheRun) {
  RoundEngineConfig config = SecureConfig(5);  // full graph, threshold 3
  config.max_round_attempts = 2;
  ASSERT_NO_FATAL_FAILURE(StartRound(config));

  // Attempt 1: only two clients advertise before the deadline.
  std::vector<ClientPlan> plans = RandomPlans(5, 11);
  for (int i : {2, 3, 4}) plans[i].halt_after_messages = 0;
  Clients first = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const std::string first_session = first[0]->task().secagg->session_id();
  Pump(*engine_, first);
  clock_.Advance(kRoundTimeout + kOneSecond);
  Pump(*engine_, first, 2);

  ASSERT_THAT(listener_.retries, SizeIs(1));
  EXPECT_EQ(listener_.retries[0].round, 1u);
  EXPECT_EQ(listener_.retries[0].attempt, 1);
  EXPECT_THAT(listener_.retries[0].reason, HasSubstr("secure aggregation"));
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining)
      << "no second attempt began";
  EXPECT_EQ(engine_->current_round(), 1u);

  // Attempt 2, a fresh secure session: three clients vanish after sharing keys.
  std::vector<ClientPlan> retry_plans = RandomPlans(5, 12);
  for (int i : {0, 1, 2}) retry_plans[i].halt_after_messages = 2;
  Clients second = BeginAll(retry_plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_NE(second[0]->task().secagg->session_id(), first_session);
  Pump(*engine_, second);
  clock_.Advance(kPhaseTimeout + kOneSecond);
  Pump(*engine_, second);

  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFailed);
  EXPECT_THAT(listener_.retries, SizeIs(1))
      << "the last attempt is not retried";
  EXPECT_THAT(listener_.summaries, IsEmpty());
  const absl::Status outcome = engine_->outcome();
  EXPECT_FALSE(outcome.ok());
  EXPECT_THAT(std::string(outcome.message()),
              HasSubstr("secure aggregation aborted"));
  EXPECT_THAT(std::string(outcome.message()), HasSubstr("2 attempts"));
  EXPECT_EQ(Values(engine_->global_model()->values), initial_);
}

// A secure exchange is keyed by (run, round), and a retried round keeps its
// number: a client of the aborted attempt must learn that its session ended
// (and stay free to fetch the new attempt's task) instead of waiting, unheard,
// in a session that no longer exists.
TEST_F(SecureRoundEngineTest, ClientOfAnAbortedAttemptIsToldItsSessionEnded) {
  RoundEngineConfig config = SecureConfig(5);
  config.max_round_attempts = 3;
  ASSERT_NO_FATAL_FAILURE(StartRound(config));
  std::vector<ClientPlan> plans = RandomPlans(5, 13);
  for (int i : {2, 3, 4}) plans[i].halt_after_messages = 0;
  Clients first = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  // Client 4 trained slowly: it will advertise only after the attempt aborted.
  auto late = std::make_unique<SimulatedClient>(4, RandomPlans(5, 14)[4]);
  late->Begin(*engine_);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  Pump(*engine_, first);
  clock_.Advance(kRoundTimeout + kOneSecond);
  Pump(*engine_, first, 3);
  ASSERT_THAT(listener_.retries, SizeIs(1));
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);

  // Client 0 had advertised in attempt 1 and has been polling since.
  EXPECT_FALSE(first[0]->active()) << "still waiting in the aborted session";
  EXPECT_TRUE(absl::IsAborted(first[0]->error())) << first[0]->error();

  late->Step(*engine_);  // its attempt-1 AdvertiseKeys
  EXPECT_FALSE(late->active());
  absl::StatusOr<FetchOutcome> refetch = engine_->FetchTask(late->id());
  ASSERT_TRUE(refetch.ok()) << refetch.status();
  EXPECT_TRUE(refetch->task.has_value())
      << "a stale message locked the client out of the new attempt: "
      << refetch->reason;
}

TEST_F(SecureRoundEngineTest,
       SecAggExchangeRefusesStrangersUnselectedAndOtherRuns) {
  RoundEngineConfig config = SecureConfig(3);
  config.min_clients = 4;  // four registered, three selected
  ASSERT_NO_FATAL_FAILURE(StartRound(config));
  std::string unselected;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<FetchOutcome> f = engine_->FetchTask(TestPki::ClientId(i));
    ASSERT_TRUE(f.ok()) << f.status();
    if (!f->task) unselected = TestPki::ClientId(i);
  }
  ASSERT_FALSE(unselected.empty());

  absl::StatusOr<SecAggExchangeReply> reply =
      engine_->SecAggExchange(unselected, kRunId, 1, nullptr);
  EXPECT_TRUE(absl::IsPermissionDenied(reply.status())) << reply.status();

  reply = engine_->SecAggExchange("stranger", kRunId, 1, nullptr);
  EXPECT_TRUE(absl::IsNotFound(reply.status())) << reply.status();

  const std::string selected = unselected == TestPki::ClientId(0)
                                   ? TestPki::ClientId(1)
                                   : TestPki::ClientId(0);
  reply = engine_->SecAggExchange(selected, "another-run", 1, nullptr);
  EXPECT_TRUE(absl::IsFailedPrecondition(reply.status())) << reply.status();
  // The control: the same call naming the right run is served.
  reply = engine_->SecAggExchange(selected, kRunId, 1, nullptr);
  EXPECT_TRUE(reply.ok()) << reply.status();
}

TEST_F(SecureRoundEngineTest,
       MaskedInputOfWrongLengthIsRefusedAndRoundCompletesWithout) {
  ASSERT_NO_FATAL_FAILURE(StartRound(SecureConfig(5)));
  std::vector<ClientPlan> plans = RandomPlans(5, 15);
  plans[3].truncate_masked_input = true;
  Clients clients = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  Pump(*engine_, clients);
  EXPECT_TRUE(absl::IsInvalidArgument(clients[3]->masked_input_status()))
      << clients[3]->masked_input_status();
  EXPECT_THAT(listener_.summaries, IsEmpty());

  clock_.Advance(kPhaseTimeout + kOneSecond);
  Pump(*engine_, clients);

  ASSERT_THAT(listener_.summaries, SizeIs(1));
  EXPECT_EQ(listener_.summaries[0].participants, 4);
  ExpectModelIsOldPlusMean(
      initial_, *engine_->global_model(),
      MeanOf(plans, {0, 1, 2, 4}, config_.secagg.max_weight), config_);
}

TEST(SecureRoundEngineConfigTest, SecureAggregationNeedsThreeClientsPerRound) {
  RoundEngineConfig config = SecureConfig(3);
  EXPECT_TRUE(config.Validate().ok()) << config.Validate();

  config.min_clients = 2;
  config.clients_per_round = 2;
  absl::Status refused = config.Validate();
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("clients_per_round"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("min_clients"));

  config.secagg.enabled = false;  // plaintext rounds may be that small
  EXPECT_TRUE(config.Validate().ok()) << config.Validate();

  RoundEngineConfig few_per_round = SecureConfig(3);
  few_per_round.clients_per_round = 2;
  EXPECT_THAT(std::string(few_per_round.Validate().message()),
              HasSubstr("clients_per_round"));
}

TEST(SecureRoundEngineConfigTest, EncodingThatCouldOverflowIsRefused) {
  RoundEngineConfig config = SecureConfig(3);
  config.secagg.quantization_bits = 32;  // 3 x 2^31 cannot fit in 2^31
  absl::Status refused = config.Validate();
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("quantization_bits"));
}

// 3 x (2^29 - 1) values fit below 2^31, 5 do not: a cohort of 5 must be
// refused when the configuration is checked, not when round 1 starts.
TEST(SecureRoundEngineConfigTest, EncodingThatOverflowsForTheCohortIsRefused) {
  RoundEngineConfig config = SecureConfig(3);
  config.secagg.quantization_bits = 30;
  EXPECT_TRUE(config.Validate().ok()) << config.Validate();

  config.min_clients = 5;
  config.clients_per_round = 5;
  absl::Status refused = config.Validate();
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("quantization_bits"));
}

// ---- Precision of the per-round encoding (small sites, small updates) ----

// Sites of `rows` examples fine-tuning at a small learning rate: every delta
// coordinate has magnitude 1e-5..1e-3 (log-uniform, random sign).
std::vector<ClientPlan> SmallSitePlans(const std::vector<uint64_t>& rows,
                                       uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> log_magnitude(std::log(1e-5),
                                                       std::log(1e-3));
  std::bernoulli_distribution negative(0.5);
  std::vector<ClientPlan> plans(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    plans[i].num_examples = rows[i];
    plans[i].train_loss = 0.3 + 0.01 * static_cast<double>(i);
    plans[i].delta.resize(kDimension);
    for (float& x : plans[i].delta) {
      x = static_cast<float>((negative(rng) ? -1 : 1) *
                             std::exp(log_magnitude(rng)));
    }
  }
  return plans;
}

double RelativeL2Error(const std::vector<float>& got,
                       const std::vector<double>& want) {
  double err2 = 0, norm2 = 0;
  for (size_t j = 0; j < want.size(); ++j) {
    err2 += (got[j] - want[j]) * (got[j] - want[j]);
    norm2 += want[j] * want[j];
  }
  return std::sqrt(err2 / norm2);
}

class SmallSiteSecureRoundTest : public SecureRoundEngineTest {
 protected:
  // As StartRound, from a zero model (so the new model is the decoded mean),
  // with client i declaring `declared[i]` examples at Register.
  void StartRoundDeclaring(RoundEngineConfig config,
                           const std::vector<uint64_t>& declared) {
    config_ = config;
    initial_.assign(kDimension, 0.0f);
    absl::StatusOr<std::unique_ptr<RoundEngine>> engine =
        RoundEngine::Create(config, MakeModel(initial_), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    engine_->AddListener(&listener_);
    for (size_t i = 0; i < declared.size(); ++i) {
      ASSERT_TRUE(
          engine_->Register(TestPki::ClientId(static_cast<int>(i)), declared[i])
              .ok());
    }
    engine_->Tick();
    ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
  }
};

TEST_F(SmallSiteSecureRoundTest,
       SmallSitesGetAnExactExampleCountAndAMeanWithinOnePercent) {
  const std::vector<uint64_t> rows = {220, 210, 235};
  for (uint32_t seed : {1u, 2u, 3u}) {
    listener_.summaries.clear();
    ASSERT_NO_FATAL_FAILURE(
        StartRoundDeclaring(SecureConfig(3), rows));  // q 20, M 10000
    const std::vector<ClientPlan> plans = SmallSitePlans(rows, seed);
    Clients clients = BeginAll(plans);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    // The round's encoding fits its cohort: the largest q three clients
    // allow, and the biggest site (235) earns weight 235/256.
    const v1::SecAggEncoding& encoding = clients[0]->task().encoding;
    EXPECT_EQ(encoding.max_clients(), 3u);
    EXPECT_EQ(encoding.quantization_bits(), 30u);
    EXPECT_EQ(encoding.max_weight(), 256);

    Pump(*engine_, clients);
    ASSERT_THAT(listener_.summaries, SizeIs(1)) << "seed " << seed;
    const RoundSummary& summary = listener_.summaries[0];
    EXPECT_EQ(summary.total_examples, 665.0)
        << "the example count is not exact";
    ASSERT_TRUE(summary.quantization_error.has_value());
    const QuantizationErrorBound& bound = *summary.quantization_error;
    EXPECT_EQ(bound.inputs, 3);
    EXPECT_LT(bound.max_relative_error, 0.01);

    const WeightedMean mean = MeanOf(plans, {0, 1, 2}, 256);
    const double error =
        RelativeL2Error(Values(engine_->global_model()->values), mean.delta);
    EXPECT_LT(error, 0.01) << "seed " << seed;
    EXPECT_LE(error, bound.max_relative_error) << "seed " << seed;
    EXPECT_NEAR(summary.train_loss, mean.loss,
                bound.max_abs_loss_error + 1e-12);
  }
}

// A site that claims far more examples than it has (here at b = 16, where
// one count limb carries at most 8191) shrinks everyone's weight, so the
// quantization error swamps small updates: the bound says so.
RoundEngineConfig OverstatedSiteConfig() {
  RoundEngineConfig config = SecureConfig(3);
  config.secagg.modulus_bits = 16;
  config.secagg.quantization_bits = 12;
  config.secagg.max_weight = 1'000'000;
  config.max_round_attempts = 1;
  return config;
}
const std::vector<uint64_t> kOverstatedDeclarations = {220, 210, 1'000'000};

TEST_F(SmallSiteSecureRoundTest,
       ExcessQuantizationErrorWithFailPolicyFailsTheAttempt) {
  RoundEngineConfig config = OverstatedSiteConfig();
  config.secagg_error.fail = true;
  ASSERT_NO_FATAL_FAILURE(StartRoundDeclaring(config, kOverstatedDeclarations));
  Clients clients = BeginAll(SmallSitePlans({220, 210, 235}, 4));
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_EQ(clients[0]->task().encoding.max_weight(), 8191);
  Pump(*engine_, clients);

  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFailed);
  EXPECT_THAT(listener_.summaries, IsEmpty())
      << "the imprecise mean was applied";
  const std::string outcome(engine_->outcome().message());
  EXPECT_THAT(outcome, HasSubstr("secagg.max_relative_error"));
  EXPECT_THAT(outcome, HasSubstr("secagg.quantization_bits"));
  EXPECT_THAT(outcome, HasSubstr("secagg.modulus_bits"));
  EXPECT_THAT(outcome, HasSubstr("secagg.clip_range"));
  EXPECT_EQ(Values(engine_->global_model()->values), initial_);
}

TEST_F(SmallSiteSecureRoundTest,
       ExcessQuantizationErrorWithWarnPolicyKeepsTheRoundAndRecordsIt) {
  ASSERT_NO_FATAL_FAILURE(
      StartRoundDeclaring(OverstatedSiteConfig(), kOverstatedDeclarations));
  Clients clients = BeginAll(SmallSitePlans({220, 210, 235}, 4));
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Pump(*engine_, clients);

  ASSERT_THAT(listener_.summaries, SizeIs(1));
  const RoundSummary& summary = listener_.summaries[0];
  EXPECT_EQ(summary.total_examples, 665.0);
  ASSERT_TRUE(summary.quantization_error.has_value());
  EXPECT_GT(summary.quantization_error->max_relative_error, 0.01);
}

// ---- Differential privacy inside secure aggregation ----

RoundEngineConfig SecureDpConfig(int clients, DpConfig::Mode mode, double z) {
  RoundEngineConfig c = SecureConfig(clients);
  c.dp.mode = mode;
  c.dp.noise_multiplier = z;
  c.dp.sampling_rate = 1.0;  // everyone: the test drives every client
  c.dp.clip_norm = 1.0;
  c.dp.dropout_tolerance = 0.25;
  c.dp.testing_seed = 5;
  return c;
}

// Deltas of norm 0.5 (within C) for even clients, norm 2 (clipped) for odd.
std::vector<ClientPlan> DpPlans(int n) {
  std::vector<ClientPlan> plans = RandomPlans(n, 77);
  for (size_t i = 0; i < plans.size(); ++i) {
    double norm = 0;
    for (float x : plans[i].delta) norm += double(x) * x;
    const double target = i % 2 == 0 ? 0.5 : 2.0;
    for (float& x : plans[i].delta)
      x = static_cast<float>(x * target / std::sqrt(norm));
  }
  return plans;
}

// Sum over clients of clip(delta, 1), in double.
std::vector<double> ClippedSum(const std::vector<ClientPlan>& plans,
                               const std::vector<int>& included) {
  std::vector<double> sum(kDimension, 0.0);
  for (int i : included) {
    double norm = 0;
    for (float x : plans[i].delta) norm += double(x) * x;
    norm = std::sqrt(norm);
    const double f = norm > 1.0 ? 1.0 / norm : 1.0;
    for (size_t j = 0; j < kDimension; ++j) sum[j] += plans[i].delta[j] * f;
  }
  return sum;
}

TEST_F(SecureRoundEngineTest,
       CentralDpModelIsOldPlusClippedSumOverExpectedCohort) {
  const int n = 6;
  RoundEngineConfig config = SecureDpConfig(n, DpConfig::Mode::kCentral, 1e-7);
  StartRound(config);
  const std::vector<ClientPlan> plans = DpPlans(n);
  Clients clients = BeginAll(plans);
  ASSERT_NE(clients[0]->task().dp, nullptr);
  Pump(*engine_, clients);
  ASSERT_THAT(listener_.summaries, SizeIs(1));
  const RoundSummary& s = listener_.summaries[0];
  ASSERT_TRUE(s.dp.has_value());
  EXPECT_TRUE(s.secure);
  EXPECT_EQ(s.dp->mode, "central");
  // The sum of +-1 clipping indicators (3 unclipped, 3 clipped) travelled
  // inside the masked vector; with adaptive clipping off it is not used.
  const std::vector<double> sum = ClippedSum(plans, {0, 1, 2, 3, 4, 5});
  std::shared_ptr<const FlatModel> next = engine_->global_model();
  // Quantization: clip range C = 1 at q = 20 bits, n values summed.
  const double step = 1.0 / (std::ldexp(1.0, 19) - 1);
  for (size_t j = 0; j < kDimension; ++j) {
    EXPECT_NEAR(next->values[j], initial_[j] + sum[j] / 6.0,
                n * step / 6.0 + 1e-6)
        << j;
  }
}

TEST_F(SecureRoundEngineTest, DistributedDpSumCarriesTheClientsNoiseOnly) {
  const int n = 8;
  // z = 0.01 with C = 1: the sum's noise stddev is about 0.01 (sized for 6
  // of 8 survivors, so a bit more with all 8).
  RoundEngineConfig config =
      SecureDpConfig(n, DpConfig::Mode::kDistributed, 0.01);
  StartRound(config);
  const std::vector<ClientPlan> plans = DpPlans(n);
  Clients clients = BeginAll(plans);
  ASSERT_EQ(clients[0]->task().dp->mode(), v1::DpTaskConfig::DISTRIBUTED);
  EXPECT_EQ(clients[0]->task().dp->min_clients(), 6u);
  Pump(*engine_, clients);
  ASSERT_THAT(listener_.summaries, SizeIs(1));
  EXPECT_EQ(listener_.summaries[0].dp->mode, "distributed");
  const std::vector<double> sum = ClippedSum(plans, {0, 1, 2, 3, 4, 5, 6, 7});
  std::shared_ptr<const FlatModel> next = engine_->global_model();
  // Noise stddev of the sum <= 0.01 * sqrt(8/6) * (1 + rounding slack):
  // 6 sigma per coordinate (12 coordinates: false failure < 3e-8), plus the
  // rounding of the granularity, far below it.
  const double sigma = 0.01 * std::sqrt(8.0 / 6.0) * 1.1;
  double max_dev = 0;
  for (size_t j = 0; j < kDimension; ++j) {
    const double dev = next->values[j] - (initial_[j] + sum[j] / 8.0);
    EXPECT_NEAR(dev, 0.0, 6 * sigma / 8.0) << j;
    max_dev = std::max(max_dev, std::abs(dev));
  }
  EXPECT_GT(max_dev, 0.0);  // the noise is really there
}

TEST_F(SecureRoundEngineTest,
       DistributedDpRoundWithTooFewSurvivorsIsNotReleased) {
  const int n = 8;
  RoundEngineConfig config =
      SecureDpConfig(n, DpConfig::Mode::kDistributed, 1.0);
  config.max_round_attempts = 1;
  StartRound(config);
  std::vector<ClientPlan> plans = DpPlans(n);
  // Three clients crash after sharing keys: 5 survivors < min 6.
  for (int i : {1, 4, 6}) plans[i].halt_after_messages = 2;
  Clients clients = BeginAll(plans);
  for (int i = 0; i < 10; ++i) {
    Pump(*engine_, clients, 5);
    clock_.Advance(kPhaseTimeout + kOneSecond);
    engine_->Tick();
  }
  EXPECT_THAT(listener_.summaries, IsEmpty());
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFailed);
  EXPECT_THAT(std::string(engine_->outcome().message()),
              HasSubstr("to carry its privacy noise"));
}

// --- A hostile member (issue 10): verification before forwarding, blame ---

std::vector<std::string> BlamedIds(const RecordingListener& listener) {
  std::vector<std::string> ids;
  for (const auto& b : listener.blamed) ids.push_back(b.client_id);
  return ids;
}

TEST_F(SecureRoundEngineTest,
       MemberAdvertisingWithAnotherCertificateIsDroppedAndTheAttemptCompletes) {
  ASSERT_NO_FATAL_FAILURE(StartRound(SecureConfig(5)));
  std::vector<ClientPlan> plans = RandomPlans(5, 31);
  plans[4].advertise_with_cert_of = 0;
  Clients clients = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Pump(*engine_, clients);

  EXPECT_TRUE(absl::IsUnauthenticated(clients[4]->error()))
      << clients[4]->error();
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(clients[i]->finished()) << i << ": " << clients[i]->error();
  }
  EXPECT_THAT(listener_.retries, IsEmpty()) << "it cost an attempt";
  ASSERT_THAT(listener_.summaries, SizeIs(1));
  EXPECT_EQ(listener_.summaries[0].attempt, 1);
  EXPECT_EQ(listener_.summaries[0].participants, 4);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  ASSERT_THAT(listener_.blamed, SizeIs(1));
  EXPECT_EQ(listener_.blamed[0].client_id, TestPki::ClientId(4));
  EXPECT_EQ(listener_.blamed[0].round, 1u);
  EXPECT_EQ(listener_.blamed[0].attempt, 1);
  EXPECT_THAT(listener_.blamed[0].reason, HasSubstr("advertisement"));
  const WeightedMean mean =
      MeanOf(plans, {0, 1, 2, 3}, config_.secagg.max_weight);
  ExpectModelIsOldPlusMean(initial_, *engine_->global_model(), mean, config_);
}

TEST_F(SecureRoundEngineTest,
       MemberSendingUndecryptableSharesCostsOneAttemptAndSitsOutTheRetry) {
  RoundEngineConfig config = SecureConfig(5);
  config.max_round_attempts = 2;
  ASSERT_NO_FATAL_FAILURE(StartRound(config));
  std::vector<ClientPlan> plans = RandomPlans(5, 32);
  plans[4].corrupt_shares = true;
  Clients first = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Pump(*engine_, first);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(absl::IsDataLoss(first[i]->error())) << first[i]->error();
  }
  ASSERT_THAT(listener_.retries, SizeIs(1));
  ASSERT_THAT(BlamedIds(listener_), ElementsAre(TestPki::ClientId(4)));
  EXPECT_EQ(listener_.blamed[0].attempt, 1);
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);

  // Attempt 2 samples the four others only; client 4 gets no task.
  absl::StatusOr<FetchOutcome> excluded =
      engine_->FetchTask(TestPki::ClientId(4));
  ASSERT_TRUE(excluded.ok()) << excluded.status();
  EXPECT_FALSE(excluded->task.has_value());
  plans.pop_back();
  Clients second = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_THAT(second[0]->task().secagg->cohort(),
              Not(Contains(TestPki::ClientId(4))));
  Pump(*engine_, second);
  ASSERT_THAT(listener_.summaries, SizeIs(1));
  EXPECT_EQ(listener_.summaries[0].attempt, 2);
  EXPECT_EQ(listener_.summaries[0].participants, 4);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  EXPECT_THAT(listener_.blamed, SizeIs(1)) << "no one else was blamed";
}

// A member that blames every neighbour falsely is the one end of every blame:
// it alone is excluded, and its abort is one dropout.
TEST_F(SecureRoundEngineTest, FalseAccuserOfManyIsExcludedAloneAndRunGoesOn) {
  ASSERT_NO_FATAL_FAILURE(StartRound(SecureConfig(5)));
  std::vector<ClientPlan> plans = RandomPlans(5, 33);
  for (int i = 0; i < 4; ++i)
    plans[4].false_blame.push_back(TestPki::ClientId(i));
  Clients clients = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Pump(*engine_, clients);
  ASSERT_THAT(listener_.summaries, SizeIs(1));
  EXPECT_EQ(listener_.summaries[0].participants, 4);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  EXPECT_THAT(BlamedIds(listener_), ElementsAre(TestPki::ClientId(4)));
}

// One false blame of one neighbour cannot be told from one bad share: both
// ends sit out the retry, so the accuser cannot break the retry too.
TEST_F(SecureRoundEngineTest, FalseBlameOfOneCostsAtMostOneAttempt) {
  RoundEngineConfig config = SecureConfig(6);  // full graph, threshold 4
  config.max_round_attempts = 2;
  ASSERT_NO_FATAL_FAILURE(StartRound(config));
  std::vector<ClientPlan> plans = RandomPlans(6, 34);
  plans[5].false_blame = {TestPki::ClientId(0)};
  // Two unlucky crashes after sharing keys: with the accuser's abort only
  // three masked inputs arrive, below the threshold.
  plans[1].halt_after_messages = 2;
  plans[2].halt_after_messages = 2;
  Clients first = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Pump(*engine_, first);
  clock_.Advance(kPhaseTimeout + kOneSecond);
  Pump(*engine_, first);
  ASSERT_THAT(listener_.retries, SizeIs(1));
  EXPECT_THAT(BlamedIds(listener_),
              ElementsAre(TestPki::ClientId(0), TestPki::ClientId(5)));
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);

  Clients second;
  std::vector<ClientPlan> retry_plans = RandomPlans(6, 35);
  retry_plans[5].false_blame = {TestPki::ClientId(1)};  // still hostile
  for (int i = 0; i < 6; ++i) {
    absl::StatusOr<FetchOutcome> f = engine_->FetchTask(TestPki::ClientId(i));
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->task.has_value(), i != 0 && i != 5) << i;
    if (!f->task) continue;
    second.push_back(std::make_unique<SimulatedClient>(i, retry_plans[i]));
    second.back()->Begin(*engine_);
  }
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Pump(*engine_, second);
  ASSERT_THAT(listener_.summaries, SizeIs(1)) << engine_->outcome();
  EXPECT_EQ(listener_.summaries[0].attempt, 2);
  EXPECT_EQ(listener_.summaries[0].participants, 4);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
}

// Blame counts only for neighbours that were sent key shares for the accuser
// (here: none of the list): strangers, itself, a client that never shared
// keys and a list far longer than any neighbourhood are ignored.
TEST_F(SecureRoundEngineTest, BlameOfStrangersAndHugeListsIsIgnoredSafely) {
  ASSERT_NO_FATAL_FAILURE(StartRound(SecureConfig(6)));
  std::vector<ClientPlan> plans = RandomPlans(6, 36);
  plans[3].halt_after_messages = 1;  // advertises, never shares keys
  plans[5].false_blame = {"no-such-client\n[forged log line]",
                          TestPki::ClientId(5), TestPki::ClientId(3)};
  for (int i = 0; i < 20'000; ++i)
    plans[5].false_blame.push_back(std::string(64, 'z'));
  Clients clients = BeginAll(plans);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Pump(*engine_, clients);
  clock_.Advance(kPhaseTimeout + kOneSecond);
  Pump(*engine_, clients);
  ASSERT_THAT(listener_.summaries, SizeIs(1)) << engine_->outcome();
  EXPECT_EQ(listener_.summaries[0].participants, 4);
  EXPECT_THAT(listener_.blamed, IsEmpty()) << "no valid blame was lodged";
}

}  // namespace
}  // namespace fedlearn
