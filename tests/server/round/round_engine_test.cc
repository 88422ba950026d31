#include "server/round/round_engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/round/test_models.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::MakeModel;
using ::fedlearn::testing::Values;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kRunId[] = "run-under-test";
constexpr Duration kTimeout = std::chrono::seconds(60);

std::vector<float> RandomVector(size_t dim, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(dim);
  for (float& x : v) x = normal(rng);
  return v;
}

// Plaintext FedAvg: these tests pin the engine's collection logic; secure
// rounds are covered by secure_round_engine_test.cc.
RoundEngineConfig BaseConfig() {
  RoundEngineConfig c;
  c.secagg.enabled = false;
  c.run_id = kRunId;
  c.num_rounds = 3;
  c.min_clients = 1;
  c.clients_per_round = 0;
  c.fraction = 1.0;
  c.min_updates = 1;
  c.round_timeout = kTimeout;
  c.max_round_attempts = 3;
  c.client_liveness = std::chrono::hours(10);
  c.seed = 42;
  c.max_examples_per_update = 1000;
  c.training.learning_rate = 0.125;
  c.training.local_epochs = 3;
  c.training.batch_size = 16;
  return c;
}

UpdateSubmission Submission(uint64_t round, uint64_t examples, double loss,
                            std::vector<float> delta) {
  UpdateSubmission s;
  s.run_id = kRunId;
  s.round = round;
  s.model_version = round - 1;
  s.num_examples = examples;
  s.train_loss = loss;
  s.delta = FlatVector(std::move(delta));
  return s;
}

struct Contribution {
  std::vector<float> delta;
  double weight;
  double loss = 0.0;
};

// old + lr * sum(w delta) / sum(w), computed in double independently of the
// engine; the tolerance scales with the magnitudes that were summed in float.
void ExpectModelIsOldPlusWeightedMean(const std::vector<float>& actual,
                                      const std::vector<float>& old,
                                      const std::vector<Contribution>& updates,
                                      double lr = 1.0) {
  ASSERT_EQ(actual.size(), old.size());
  ASSERT_FALSE(updates.empty());
  double total = 0.0;
  for (const Contribution& c : updates) total += c.weight;
  for (size_t i = 0; i < old.size(); ++i) {
    double sum = 0.0, scale = 0.0;
    for (const Contribution& c : updates) {
      sum += c.weight * c.delta[i];
      scale += c.weight * std::fabs(c.delta[i]);
    }
    const double expected = old[i] + lr * sum / total;
    const double tolerance =
        1e-5 * (std::fabs(old[i]) + lr * scale / total) + 1e-7;
    ASSERT_NEAR(actual[i], expected, tolerance) << "index " << i;
  }
}

double WeightedLoss(const std::vector<Contribution>& updates) {
  double num = 0.0, den = 0.0;
  for (const Contribution& c : updates) {
    num += c.weight * c.loss;
    den += c.weight;
  }
  return num / den;
}

class RecordingListener : public RoundListener {
 public:
  struct Completed {
    RoundSummary summary;
    std::vector<float> model;
  };
  struct Retried {
    uint64_t round;
    int attempt;
    std::string reason;
  };

  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override {
    completed.push_back({summary, Values(global.values)});
    return fail_with;
  }
  void OnRoundRetried(uint64_t round, int attempt,
                      const std::string& reason) override {
    retried.push_back({round, attempt, reason});
  }
  void OnRunEnded(const absl::Status& outcome) override {
    ended.push_back(outcome);
  }
  void OnPhaseStarted(uint64_t round, int attempt,
                      const std::string& phase) override {
    phases.push_back(std::to_string(round) + "/" + std::to_string(attempt) +
                     " " + phase);
  }

  std::vector<std::string> phases;  // "round/attempt phase"
  std::vector<Completed> completed;
  std::vector<Retried> retried;
  std::vector<absl::Status> ended;
  absl::Status fail_with = absl::OkStatus();
};

class FixedEvaluator : public ModelEvaluator {
 public:
  explicit FixedEvaluator(absl::StatusOr<EvalMetrics> result)
      : result_(std::move(result)) {}
  absl::StatusOr<EvalMetrics> Evaluate(const FlatVector& parameters) override {
    seen.push_back(Values(parameters));
    return result_;
  }
  std::vector<std::vector<float>> seen;

 private:
  absl::StatusOr<EvalMetrics> result_;
};

std::vector<std::string> ClientIds(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    ids.push_back("client-" + std::to_string(100 + i));
  }
  return ids;
}

class RoundEngineTest : public ::testing::Test {
 protected:
  void Start(RoundEngineConfig config, std::vector<float> initial,
             uint64_t start_round = 1, ModelEvaluator* evaluator = nullptr) {
    initial_ = initial;
    absl::StatusOr<std::unique_ptr<RoundEngine>> engine =
        RoundEngine::Create(std::move(config), MakeModel(std::move(initial)),
                            start_round, &clock_, evaluator);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    engine_->AddListener(&listener_);
  }

  void RegisterAll(const std::vector<std::string>& ids,
                   uint64_t examples = 10) {
    for (const std::string& id : ids) {
      ASSERT_TRUE(engine_->Register(id, examples).ok()) << id;
      registered_.push_back(id);
    }
  }

  // Fetches for every client; returns those that got a task, in order.
  std::vector<std::string> Selected(const std::vector<std::string>& ids) {
    std::vector<std::string> selected;
    for (const std::string& id : ids) {
      absl::StatusOr<FetchOutcome> out = engine_->FetchTask(id);
      EXPECT_TRUE(out.ok()) << out.status();
      if (out.ok() && out->task.has_value()) selected.push_back(id);
    }
    return selected;
  }

  // Ticks, then every registered client fetches (so the selected ones may
  // upload).
  void TickAndFetch() {
    engine_->Tick();
    Selected(registered_);
  }

  std::vector<float> Global() const {
    return Values(engine_->global_model()->values);
  }

  FakeClock clock_;
  RecordingListener listener_;
  std::unique_ptr<RoundEngine> engine_;
  std::vector<float> initial_;
  std::vector<std::string> registered_;
};

TEST_F(RoundEngineTest, WaitsUntilMinClientsAreRegistered) {
  RoundEngineConfig config = BaseConfig();
  config.min_clients = 3;
  Start(config, {1, 2, 3});
  RegisterAll({"a", "b"});
  engine_->Tick();
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kWaitingForClients);
  absl::StatusOr<FetchOutcome> out = engine_->FetchTask("a");
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->task.has_value());
  EXPECT_FALSE(out->run_finished);
  EXPECT_THAT(out->reason, HasSubstr("2 of 3"));
  EXPECT_EQ(out->retry_after_ms, config.poll_interval_ms);

  RegisterAll({"c"});
  engine_->Tick();
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
  EXPECT_THAT(Selected({"a", "b", "c"}), ElementsAre("a", "b", "c"));
}

TEST_F(RoundEngineTest, SamplesClientsPerRoundOfTheLiveClients) {
  RoundEngineConfig config = BaseConfig();
  config.clients_per_round = 4;
  Start(config, {0, 0});
  const std::vector<std::string> ids = ClientIds(10);
  RegisterAll(ids);
  engine_->Tick();
  const std::vector<std::string> selected = Selected(ids);
  EXPECT_THAT(selected, SizeIs(4));
  for (const std::string& id : ids) {
    if (std::count(selected.begin(), selected.end(), id)) continue;
    absl::StatusOr<FetchOutcome> out = engine_->FetchTask(id);
    ASSERT_TRUE(out.ok());
    EXPECT_FALSE(out->task.has_value()) << id;
    EXPECT_FALSE(out->run_finished);
    EXPECT_THAT(out->reason, HasSubstr("not selected for round 1"));
  }
}

TEST_F(RoundEngineTest, FractionSamplesTheCeilingOfItsShareOfLiveClients) {
  RoundEngineConfig config = BaseConfig();
  config.fraction = 0.25;
  Start(config, {0});
  const std::vector<std::string> ids = ClientIds(10);
  RegisterAll(ids);
  engine_->Tick();
  EXPECT_THAT(Selected(ids), SizeIs(3));  // ceil(2.5)
}

std::vector<std::string> SampleOnce(uint64_t seed, int n, int k) {
  FakeClock clock;
  RoundEngineConfig config = BaseConfig();
  config.seed = seed;
  config.clients_per_round = k;
  auto engine = RoundEngine::Create(config, MakeModel({0}), 1, &clock, nullptr);
  EXPECT_TRUE(engine.ok());
  const std::vector<std::string> ids = ClientIds(n);
  // Registration order must not matter: register in reverse.
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    EXPECT_TRUE((*engine)->Register(*it, 1).ok());
  }
  (*engine)->Tick();
  std::vector<std::string> selected;
  for (const std::string& id : ids) {
    auto out = (*engine)->FetchTask(id);
    if (out.ok() && out->task.has_value()) selected.push_back(id);
  }
  return selected;
}

TEST(RoundEngineSamplingTest, SameSeedGivesSameCohortAndSeedsDiffer) {
  std::set<std::vector<std::string>> distinct;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    const std::vector<std::string> first = SampleOnce(seed, 20, 5);
    EXPECT_THAT(first, SizeIs(5));
    EXPECT_EQ(first, SampleOnce(seed, 20, 5)) << "seed " << seed;
    distinct.insert(first);
  }
  // 8 seeds drawing 5 of 20 (15504 cohorts): a seed-blind sampler gives 1.
  EXPECT_GE(distinct.size(), 6u);
}

TEST_F(RoundEngineTest, SelectedClientGetsPreviousModelVersionAndTheRound) {
  RoundEngineConfig config = BaseConfig();
  Start(config, {0.5f, -1.5f, 2.0f});
  RegisterAll({"a"});
  engine_->Tick();
  absl::StatusOr<FetchOutcome> out = engine_->FetchTask("a");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->task.has_value()) << out->reason;
  const Task& task = *out->task;
  EXPECT_EQ(task.run_id, kRunId);
  EXPECT_EQ(task.round, 1u);
  EXPECT_EQ(task.model_version, 0u);
  ASSERT_NE(task.model, nullptr);
  EXPECT_EQ(Values(task.model->values), initial_);
  EXPECT_EQ(task.model->spec.tensors.at(0).name, "w");
  EXPECT_DOUBLE_EQ(task.training.learning_rate, 0.125);
  EXPECT_EQ(task.training.local_epochs, 3);
  EXPECT_EQ(task.training.batch_size, 16);
  EXPECT_EQ(task.deadline_unix_ms,
            clock_.UnixMillis() + std::chrono::milliseconds(kTimeout).count());

  // A re-fetch (after a broken download) hands out the same task.
  absl::StatusOr<FetchOutcome> again = engine_->FetchTask("a");
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->task.has_value());
  EXPECT_EQ(again->task->round, 1u);
  EXPECT_EQ(again->task->model, task.model);
}

TEST_F(RoundEngineTest,
       RoundAggregatesWeightedMeanOfDeltasWhenAllSelectedSubmitted) {
  std::mt19937 rng(3);
  const size_t dim = 37;
  Start(BaseConfig(), RandomVector(dim, rng));
  RegisterAll({"a", "b", "c"}, 1000);
  engine_->Tick();
  ASSERT_THAT(Selected({"a", "b", "c"}), SizeIs(3));

  std::vector<Contribution> updates = {{RandomVector(dim, rng), 5, 0.5},
                                       {RandomVector(dim, rng), 120, 1.25},
                                       {RandomVector(dim, rng), 33, 2.0}};
  const std::vector<std::string> ids = {"a", "b", "c"};
  for (size_t k = 0; k < ids.size(); ++k) {
    EXPECT_TRUE(engine_
                    ->SubmitUpdate(
                        ids[k], Submission(1, updates[k].weight,
                                           updates[k].loss, updates[k].delta))
                    .ok());
  }
  EXPECT_TRUE(listener_.completed.empty()) << "aggregated before Tick";
  EXPECT_EQ(engine_->model_version(), 0u);
  engine_->Tick();

  ASSERT_THAT(listener_.completed, SizeIs(1));
  const RoundSummary& s = listener_.completed[0].summary;
  EXPECT_EQ(s.run_id, kRunId);
  EXPECT_EQ(s.round, 1u);
  EXPECT_EQ(s.attempt, 1);
  EXPECT_EQ(s.model_version, 1u);
  EXPECT_EQ(s.selected, 3);
  EXPECT_EQ(s.participants, 3);
  EXPECT_EQ(s.rejected, 0);
  EXPECT_DOUBLE_EQ(s.total_examples, 158.0);
  EXPECT_NEAR(s.train_loss, WeightedLoss(updates), 1e-12);
  EXPECT_FALSE(s.eval.has_value());
  ExpectModelIsOldPlusWeightedMean(listener_.completed[0].model, initial_,
                                   updates);
  EXPECT_EQ(Global(), listener_.completed[0].model);
  EXPECT_EQ(engine_->model_version(), 1u);
  EXPECT_EQ(engine_->current_round(), 2u);
  // The next round started in the same Tick and hands out the new model.
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
  absl::StatusOr<FetchOutcome> next = engine_->FetchTask("a");
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->task.has_value());
  EXPECT_EQ(next->task->round, 2u);
  EXPECT_EQ(next->task->model_version, 1u);
  EXPECT_EQ(Values(next->task->model->values), Global());
}

TEST_F(RoundEngineTest, ServerLearningRateScalesTheAveragedStep) {
  RoundEngineConfig config = BaseConfig();
  config.server_learning_rate = 0.5;
  Start(config, {1.0f, 1.0f});
  RegisterAll({"a", "b"});
  TickAndFetch();
  ASSERT_TRUE(
      engine_->SubmitUpdate("a", Submission(1, 1, 0, {2.0f, 4.0f})).ok());
  ASSERT_TRUE(
      engine_->SubmitUpdate("b", Submission(1, 3, 0, {6.0f, -4.0f})).ok());
  TickAndFetch();
  // mean = {(2 + 18) / 4, (4 - 12) / 4} = {5, -2}; global = 1 + 0.5 * mean.
  EXPECT_THAT(Global(), ElementsAre(3.5f, 0.0f));
}

TEST_F(RoundEngineTest, PlainAttemptReportsTrainingThenReleasing) {
  RoundEngineConfig config = BaseConfig();
  config.num_rounds = 2;
  Start(config, {0.0f, 0.0f});
  RegisterAll({"a"});
  for (uint64_t round = 1; round <= 2; ++round) {
    TickAndFetch();
    ASSERT_TRUE(
        engine_->SubmitUpdate("a", Submission(round, 2, 0, {1.0f, -2.0f}))
            .ok());
  }
  TickAndFetch();
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  EXPECT_THAT(listener_.phases, ElementsAre("1/1 Training", "1/1 Releasing",
                                            "2/1 Training", "2/1 Releasing"));
}

TEST_F(RoundEngineTest, RunFinishesAfterNumRounds) {
  RoundEngineConfig config = BaseConfig();
  config.num_rounds = 2;
  Start(config, {0.0f, 0.0f});
  RegisterAll({"a"});
  for (uint64_t round = 1; round <= 2; ++round) {
    TickAndFetch();
    ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
    ASSERT_TRUE(
        engine_->SubmitUpdate("a", Submission(round, 2, 0, {1.0f, -2.0f}))
            .ok());
  }
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);  // round 2 open
  TickAndFetch();
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  EXPECT_TRUE(engine_->outcome().ok());
  ASSERT_THAT(listener_.completed, SizeIs(2));
  EXPECT_EQ(listener_.completed[1].summary.round, 2u);
  EXPECT_THAT(Global(), ElementsAre(2.0f, -4.0f));
  EXPECT_EQ(engine_->model_version(), 2u);

  absl::StatusOr<FetchOutcome> out = engine_->FetchTask("a");
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->run_finished);
  EXPECT_FALSE(out->task.has_value());
  // More ticks change nothing.
  TickAndFetch();
  EXPECT_THAT(listener_.completed, SizeIs(2));
  EXPECT_EQ(
      engine_->SubmitUpdate("a", Submission(3, 2, 0, {1.0f, 1.0f})).code(),
      absl::StatusCode::kFailedPrecondition);
}

// Content rejections: the bad update is the client's answer (the round does
// not wait for it) and is not in the average.
struct ContentCase {
  std::string name;
  std::function<void(UpdateSubmission&)> spoil;
};

void PrintTo(const ContentCase& c, std::ostream* os) { *os << c.name; }

class ContentRejectionTest : public RoundEngineTest,
                             public ::testing::WithParamInterface<ContentCase> {
};

TEST_P(ContentRejectionTest, IsInvalidArgumentAndRoundCompletesWithoutIt) {
  std::mt19937 rng(11);
  const size_t dim = 8;
  Start(BaseConfig(), RandomVector(dim, rng));
  RegisterAll({"a", "b", "c"});
  engine_->Tick();
  ASSERT_THAT(Selected({"a", "b", "c"}), SizeIs(3));

  std::vector<Contribution> good = {{RandomVector(dim, rng), 7, 0.25},
                                    {RandomVector(dim, rng), 2, 0.75}};
  UpdateSubmission bad = Submission(1, 9, 5.0, std::vector<float>(dim, 100.0f));
  GetParam().spoil(bad);
  absl::Status s = engine_->SubmitUpdate("c", std::move(bad));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  // A rejected client cannot try again within the round.
  EXPECT_EQ(engine_
                ->SubmitUpdate(
                    "c", Submission(1, 9, 5.0, std::vector<float>(dim, 100.0f)))
                .code(),
            absl::StatusCode::kAlreadyExists);

  ASSERT_TRUE(
      engine_->SubmitUpdate("a", Submission(1, 7, 0.25, good[0].delta)).ok());
  ASSERT_TRUE(
      engine_->SubmitUpdate("b", Submission(1, 2, 0.75, good[1].delta)).ok());
  engine_->Tick();  // no clock advance: everyone has answered
  ASSERT_THAT(listener_.completed, SizeIs(1));
  const RoundSummary& summary = listener_.completed[0].summary;
  EXPECT_EQ(summary.selected, 3);
  EXPECT_EQ(summary.participants, 2);
  EXPECT_EQ(summary.rejected, 1);
  EXPECT_DOUBLE_EQ(summary.total_examples, 9.0);
  EXPECT_NEAR(summary.train_loss, WeightedLoss(good), 1e-12);
  ExpectModelIsOldPlusWeightedMean(Global(), initial_, good);
}

INSTANTIATE_TEST_SUITE_P(
    RoundEngineTest, ContentRejectionTest,
    ::testing::Values(
        ContentCase{"TooShort",
                    [](UpdateSubmission& s) { s.delta = FlatVector(7); }},
        ContentCase{"TooLong",
                    [](UpdateSubmission& s) { s.delta = FlatVector(9); }},
        ContentCase{"Empty",
                    [](UpdateSubmission& s) { s.delta = FlatVector(); }},
        ContentCase{"NaN",
                    [](UpdateSubmission& s) {
                      s.delta[3] = std::numeric_limits<float>::quiet_NaN();
                    }},
        ContentCase{"PlusInf",
                    [](UpdateSubmission& s) {
                      s.delta[0] = std::numeric_limits<float>::infinity();
                    }},
        ContentCase{"MinusInf",
                    [](UpdateSubmission& s) {
                      s.delta[7] = -std::numeric_limits<float>::infinity();
                    }},
        ContentCase{"ZeroExamples",
                    [](UpdateSubmission& s) { s.num_examples = 0; }},
        ContentCase{"TooManyExamples",
                    [](UpdateSubmission& s) { s.num_examples = 1001; }},
        ContentCase{"NormAboveTheBound",
                    [](UpdateSubmission& s) {
                      for (size_t i = 0; i < s.delta.size(); ++i) {
                        s.delta[i] = 3.0e38f;
                      }
                    }},
        ContentCase{"MoreExamplesThanDeclared",
                    [](UpdateSubmission& s) { s.num_examples = 11; }},
        ContentCase{"NaNLoss",
                    [](UpdateSubmission& s) {
                      s.train_loss = std::numeric_limits<double>::quiet_NaN();
                    }},
        ContentCase{"NegativeLoss",
                    [](UpdateSubmission& s) { s.train_loss = -1.0; }},
        ContentCase{"InfLoss",
                    [](UpdateSubmission& s) {
                      s.train_loss = std::numeric_limits<double>::infinity();
                    }}),
    [](const ::testing::TestParamInfo<ContentCase>& info) {
      return info.param.name;
    });

TEST_F(RoundEngineTest, MaxExamplesPerUpdateIsInclusive) {
  Start(BaseConfig(), {0.0f});
  RegisterAll({"a"}, 1000);
  TickAndFetch();
  EXPECT_TRUE(engine_->SubmitUpdate("a", Submission(1, 1000, 0, {1.0f})).ok());
}

// Protocol rejections (wrong run, round or version): the message is refused
// but does not count as the client's answer, so the round waits for it until
// the deadline and then completes with the others.
struct ProtocolCase {
  std::string name;
  std::function<void(UpdateSubmission&)> spoil;
};

void PrintTo(const ProtocolCase& c, std::ostream* os) { *os << c.name; }

class ProtocolRejectionTest
    : public RoundEngineTest,
      public ::testing::WithParamInterface<ProtocolCase> {};

TEST_P(ProtocolRejectionTest, IsFailedPreconditionAndRoundCompletesAtDeadline) {
  std::mt19937 rng(5);
  const size_t dim = 6;
  Start(BaseConfig(), RandomVector(dim, rng));
  RegisterAll({"a", "b", "c"});
  TickAndFetch();
  std::vector<Contribution> good = {{RandomVector(dim, rng), 3},
                                    {RandomVector(dim, rng), 4}};
  UpdateSubmission bad = Submission(1, 50, 0, RandomVector(dim, rng));
  GetParam().spoil(bad);
  absl::Status s = engine_->SubmitUpdate("c", std::move(bad));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;

  ASSERT_TRUE(
      engine_->SubmitUpdate("a", Submission(1, 3, 0, good[0].delta)).ok());
  ASSERT_TRUE(
      engine_->SubmitUpdate("b", Submission(1, 4, 0, good[1].delta)).ok());
  TickAndFetch();
  EXPECT_TRUE(listener_.completed.empty()) << "c has not answered yet";
  clock_.Advance(kTimeout);
  TickAndFetch();
  ASSERT_THAT(listener_.completed, SizeIs(1));
  EXPECT_EQ(listener_.completed[0].summary.participants, 2);
  EXPECT_EQ(listener_.completed[0].summary.rejected, 0);
  ExpectModelIsOldPlusWeightedMean(Global(), initial_, good);
}

INSTANTIATE_TEST_SUITE_P(
    RoundEngineTest, ProtocolRejectionTest,
    ::testing::Values(
        ProtocolCase{"WrongRunId",
                     [](UpdateSubmission& s) { s.run_id = "another-run"; }},
        ProtocolCase{"EmptyRunId",
                     [](UpdateSubmission& s) { s.run_id.clear(); }},
        ProtocolCase{"FutureRound",
                     [](UpdateSubmission& s) {
                       s.round = 2;
                       s.model_version = 1;
                     }},
        ProtocolCase{"RoundZero",
                     [](UpdateSubmission& s) {
                       s.round = 0;
                       s.model_version = 0;
                     }},
        ProtocolCase{"WrongModelVersion",
                     [](UpdateSubmission& s) { s.model_version = 1; }}),
    [](const ::testing::TestParamInfo<ProtocolCase>& info) {
      return info.param.name;
    });

TEST_F(RoundEngineTest,
       ProtocolRejectionLeavesTheClientFreeToSubmitItsRealUpdate) {
  Start(BaseConfig(), {0.0f});
  RegisterAll({"a"});
  TickAndFetch();
  UpdateSubmission wrong_run = Submission(1, 1, 0, {100.0f});
  wrong_run.run_id = "other";
  EXPECT_EQ(engine_->SubmitUpdate("a", std::move(wrong_run)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(engine_->SubmitUpdate("a", Submission(1, 1, 0, {2.0f})).ok());
  TickAndFetch();
  EXPECT_THAT(Global(), ElementsAre(2.0f));
}

TEST_F(RoundEngineTest, StaleRoundUpdateIsRefusedInTheNextRound) {
  Start(BaseConfig(), {0.0f, 0.0f});
  RegisterAll({"a", "b"});
  TickAndFetch();
  ASSERT_TRUE(
      engine_->SubmitUpdate("a", Submission(1, 1, 0, {1.0f, 1.0f})).ok());
  ASSERT_TRUE(
      engine_->SubmitUpdate("b", Submission(1, 1, 0, {1.0f, 1.0f})).ok());
  TickAndFetch();
  ASSERT_EQ(engine_->current_round(), 2u);
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);

  absl::Status stale =
      engine_->SubmitUpdate("b", Submission(1, 1, 0, {50.0f, 50.0f}));
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(stale.message()), HasSubstr("round 1"));
  ASSERT_TRUE(
      engine_->SubmitUpdate("a", Submission(2, 1, 0, {2.0f, -2.0f})).ok());
  clock_.Advance(kTimeout);
  TickAndFetch();
  ASSERT_THAT(listener_.completed, SizeIs(2));
  EXPECT_EQ(listener_.completed[1].summary.participants, 1);
  EXPECT_THAT(Global(), ElementsAre(3.0f, -1.0f));
}

TEST_F(RoundEngineTest, UnselectedClientIsPermissionDeniedAndNotAveraged) {
  RoundEngineConfig config = BaseConfig();
  config.clients_per_round = 3;
  Start(config, {0.0f});
  const std::vector<std::string> ids = ClientIds(4);
  RegisterAll(ids);
  engine_->Tick();
  const std::vector<std::string> selected = Selected(ids);
  ASSERT_THAT(selected, SizeIs(3));
  std::string outsider;
  for (const std::string& id : ids) {
    if (std::count(selected.begin(), selected.end(), id) == 0) outsider = id;
  }
  EXPECT_EQ(
      engine_->SubmitUpdate(outsider, Submission(1, 100, 0, {1000.0f})).code(),
      absl::StatusCode::kPermissionDenied);
  for (const std::string& id : selected) {
    ASSERT_TRUE(engine_->SubmitUpdate(id, Submission(1, 1, 0, {3.0f})).ok());
  }
  engine_->Tick();  // complete without the outsider
  ASSERT_THAT(listener_.completed, SizeIs(1));
  EXPECT_EQ(listener_.completed[0].summary.participants, 3);
  EXPECT_THAT(Global(), ElementsAre(3.0f));
}

TEST_F(RoundEngineTest, DuplicateSubmissionIsAlreadyExistsAndCountedOnce) {
  Start(BaseConfig(), {0.0f});
  RegisterAll({"a", "b"});
  TickAndFetch();
  ASSERT_TRUE(engine_->SubmitUpdate("a", Submission(1, 1, 0, {4.0f})).ok());
  EXPECT_EQ(engine_->SubmitUpdate("a", Submission(1, 1, 0, {4.0f})).code(),
            absl::StatusCode::kAlreadyExists);
  absl::StatusOr<FetchOutcome> refetch = engine_->FetchTask("a");
  ASSERT_TRUE(refetch.ok());
  EXPECT_FALSE(refetch->task.has_value());
  EXPECT_THAT(refetch->reason, HasSubstr("already answered"));
  ASSERT_TRUE(engine_->SubmitUpdate("b", Submission(1, 1, 0, {0.0f})).ok());
  TickAndFetch();
  ASSERT_THAT(listener_.completed, SizeIs(1));
  EXPECT_EQ(listener_.completed[0].summary.participants, 2);
  EXPECT_THAT(Global(), ElementsAre(2.0f));  // (4 + 0) / 2, not (4 + 4 + 0) / 3
}

TEST_F(RoundEngineTest, SelectedClientThatNeverFetchedCannotUpload) {
  Start(BaseConfig(), {0.0f});
  RegisterAll({"a", "b"});
  engine_->Tick();
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
  // "b" is selected (fraction 1) but never fetched its task.
  absl::Status check = engine_->CheckMayUpload("b", kRunId, 1);
  EXPECT_EQ(check.code(), absl::StatusCode::kFailedPrecondition) << check;
  EXPECT_THAT(std::string(check.message()),
              HasSubstr("fetch the round's task before uploading"));
  absl::Status s = engine_->SubmitUpdate("b", Submission(1, 1, 0, {100.0f}));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;

  ASSERT_THAT(Selected({"a"}), SizeIs(1));
  EXPECT_TRUE(engine_->CheckMayUpload("a", kRunId, 1).ok());
  EXPECT_EQ(engine_->CheckMayUpload("a", "other-run", 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->CheckMayUpload("a", kRunId, 2).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->CheckMayUpload("ghost", kRunId, 1).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(engine_->SubmitUpdate("a", Submission(1, 1, 0, {2.0f})).ok());
  EXPECT_EQ(engine_->CheckMayUpload("a", kRunId, 1).code(),
            absl::StatusCode::kAlreadyExists);
  engine_->Tick();
  EXPECT_TRUE(listener_.completed.empty()) << "b's refused update is no answer";
  clock_.Advance(kTimeout);
  engine_->Tick();
  ASSERT_THAT(listener_.completed, SizeIs(1));
  EXPECT_EQ(listener_.completed[0].summary.participants, 1);
  EXPECT_THAT(Global(), ElementsAre(2.0f));  // not (2 + 100) / 2
}

// The reproduction: 3.0e38 per value with num_examples = 10 used to
// overflow the float sum and make every value of the saved model infinite.
TEST_F(RoundEngineTest, OneHugeUpdateCannotMakeTheGlobalModelInfinite) {
  const size_t dim = 530;
  Start(BaseConfig(), std::vector<float>(dim, 0.5f));
  RegisterAll({"honest", "hostile"});
  TickAndFetch();
  absl::Status s = engine_->SubmitUpdate(
      "hostile", Submission(1, 10, 0, std::vector<float>(dim, 3.0e38f)));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("max_update_l2_norm"));
  ASSERT_TRUE(
      engine_
          ->SubmitUpdate("honest",
                         Submission(1, 10, 0.1, std::vector<float>(dim, 0.25f)))
          .ok());
  engine_->Tick();  // both answered
  ASSERT_THAT(listener_.completed, SizeIs(1));
  EXPECT_EQ(listener_.completed[0].summary.participants, 1);
  EXPECT_EQ(listener_.completed[0].summary.rejected, 1);
  for (float x : Global()) ASSERT_FLOAT_EQ(x, 0.75f);
}

TEST_F(RoundEngineTest, ANonFiniteAggregateIsNeverReleasedAndTheRoundRetried) {
  RoundEngineConfig config = BaseConfig();
  config.max_update_l2_norm = 1e30;
  config.server_learning_rate = 1e10;  // 1e29 * 1e10 overflows float32
  config.max_round_attempts = 2;
  Start(config, {0.0f, 1.0f});
  RegisterAll({"a"});
  for (int attempt = 1; attempt <= 2; ++attempt) {
    TickAndFetch();
    ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining) << attempt;
    ASSERT_TRUE(
        engine_->SubmitUpdate("a", Submission(1, 1, 0, {1e29f, 0.0f})).ok());
  }
  engine_->Tick();
  EXPECT_TRUE(listener_.completed.empty()) << "nothing was released";
  ASSERT_THAT(listener_.retried, SizeIs(1));
  EXPECT_THAT(listener_.retried[0].reason,
              HasSubstr("1 of 2 values that are not finite"));
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFailed);
  EXPECT_THAT(std::string(engine_->outcome().message()),
              HasSubstr("max_update_l2_norm"));
  EXPECT_THAT(Global(), ElementsAre(0.0f, 1.0f));
}

TEST_F(RoundEngineTest, UnknownClientIsNotFoundEverywhere) {
  Start(BaseConfig(), {0.0f});
  RegisterAll({"a"});
  TickAndFetch();
  EXPECT_EQ(engine_->SubmitUpdate("ghost", Submission(1, 1, 0, {9.0f})).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->FetchTask("ghost").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->Heartbeat("ghost").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->Register("", 1).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(engine_->SubmitUpdate("a", Submission(1, 1, 0, {1.0f})).ok());
  TickAndFetch();
  EXPECT_THAT(Global(), ElementsAre(1.0f));
}

TEST_F(RoundEngineTest, RegistrationBeyondTheLimitIsResourceExhausted) {
  RoundEngineConfig config = BaseConfig();
  config.max_registered_clients = 2;
  Start(config, {0.0f});
  RegisterAll({"a", "b"});
  EXPECT_EQ(engine_->Register("c", 1).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(engine_->Register("a", 5).ok())
      << "re-registration is not a new client";
}

TEST_F(RoundEngineTest, UpdateWhileWaitingForClientsIsFailedPrecondition) {
  RoundEngineConfig config = BaseConfig();
  config.min_clients = 2;
  Start(config, {0.0f});
  RegisterAll({"a"});
  engine_->Tick();
  EXPECT_EQ(engine_->SubmitUpdate("a", Submission(1, 1, 0, {1.0f})).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RoundEngineTest, DeadlineClosesRoundWithTheClientsThatAnswered) {
  std::mt19937 rng(17);
  const size_t dim = 5;
  Start(BaseConfig(), RandomVector(dim, rng));
  const std::vector<std::string> ids = ClientIds(4);
  RegisterAll(ids, 1000);
  TickAndFetch();
  std::vector<Contribution> good = {{RandomVector(dim, rng), 11, 1.0},
                                    {RandomVector(dim, rng), 6, 3.0}};
  ASSERT_TRUE(
      engine_->SubmitUpdate(ids[0], Submission(1, 11, 1.0, good[0].delta))
          .ok());
  ASSERT_TRUE(
      engine_->SubmitUpdate(ids[2], Submission(1, 6, 3.0, good[1].delta)).ok());

  clock_.Advance(kTimeout - std::chrono::milliseconds(1));
  TickAndFetch();
  EXPECT_TRUE(listener_.completed.empty()) << "closed before the deadline";
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);

  clock_.Advance(std::chrono::milliseconds(1));
  TickAndFetch();
  ASSERT_THAT(listener_.completed, SizeIs(1));
  const RoundSummary& summary = listener_.completed[0].summary;
  EXPECT_EQ(summary.selected, 4);
  EXPECT_EQ(summary.participants, 2);
  EXPECT_NEAR(summary.train_loss, WeightedLoss(good), 1e-12);
  EXPECT_DOUBLE_EQ(summary.seconds, 60.0);
  ExpectModelIsOldPlusWeightedMean(Global(), initial_, good);
}

TEST_F(RoundEngineTest, TooFewUpdatesRetriesTheRoundWithAFreshCohort) {
  RoundEngineConfig config = BaseConfig();
  config.clients_per_round = 3;
  config.min_updates = 2;
  Start(config, {0.0f});
  const std::vector<std::string> ids = ClientIds(6);
  RegisterAll(ids);
  engine_->Tick();
  const std::vector<std::string> first = Selected(ids);
  ASSERT_THAT(first, SizeIs(3));
  ASSERT_TRUE(
      engine_->SubmitUpdate(first[0], Submission(1, 1, 0, {100.0f})).ok());
  clock_.Advance(kTimeout);
  engine_->Tick();

  EXPECT_TRUE(listener_.completed.empty());
  ASSERT_THAT(listener_.retried, SizeIs(1));
  EXPECT_EQ(listener_.retried[0].round, 1u);
  EXPECT_EQ(listener_.retried[0].attempt, 1);
  EXPECT_THAT(listener_.retried[0].reason, HasSubstr("min_updates=2"));
  // The retry started in the same Tick, with a new cohort and an empty sum.
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
  EXPECT_EQ(engine_->current_round(), 1u);
  EXPECT_EQ(engine_->model_version(), 0u);
  const std::vector<std::string> second = Selected(ids);
  ASSERT_THAT(second, SizeIs(3));
  for (const std::string& id : second) {
    ASSERT_TRUE(engine_->SubmitUpdate(id, Submission(1, 1, 0, {3.0f})).ok())
        << id;
  }
  engine_->Tick();
  ASSERT_THAT(listener_.completed, SizeIs(1));
  EXPECT_EQ(listener_.completed[0].summary.attempt, 2);
  EXPECT_EQ(listener_.completed[0].summary.participants, 3);
  EXPECT_THAT(Global(), ElementsAre(3.0f)) << "attempt 1's update leaked";
}

TEST(RoundEngineRetryTest, RetryDrawsANewSampleForSomeSeeds) {
  int changed = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    FakeClock clock;
    RoundEngineConfig config = BaseConfig();
    config.seed = seed;
    config.clients_per_round = 3;
    auto engine =
        RoundEngine::Create(config, MakeModel({0}), 1, &clock, nullptr);
    ASSERT_TRUE(engine.ok());
    const std::vector<std::string> ids = ClientIds(12);
    for (const std::string& id : ids)
      ASSERT_TRUE((*engine)->Register(id, 1).ok());
    auto cohort = [&] {
      std::set<std::string> s;
      for (const std::string& id : ids) {
        auto out = (*engine)->FetchTask(id);
        if (out.ok() && out->task.has_value()) s.insert(id);
      }
      return s;
    };
    (*engine)->Tick();
    const std::set<std::string> first = cohort();
    clock.Advance(kTimeout);
    (*engine)->Tick();  // nobody answered: retry
    ASSERT_EQ((*engine)->phase(), RoundEngine::Phase::kTraining);
    if (cohort() != first) ++changed;
  }
  // Each retry redraws 3 of 12 (220 cohorts); an attempt-blind sampler would
  // give the same cohort every time.
  EXPECT_GE(changed, 4);
}

TEST_F(RoundEngineTest, RunFailsAfterMaxRoundAttemptsNamingMinUpdates) {
  RoundEngineConfig config = BaseConfig();
  config.min_updates = 2;
  config.max_round_attempts = 2;
  Start(config, {7.0f});
  RegisterAll({"a", "b"});
  TickAndFetch();
  ASSERT_TRUE(engine_->SubmitUpdate("a", Submission(1, 1, 0, {1.0f})).ok());
  clock_.Advance(kTimeout);
  TickAndFetch();
  ASSERT_THAT(listener_.retried, SizeIs(1));
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
  clock_.Advance(kTimeout);
  TickAndFetch();

  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFailed);
  EXPECT_THAT(listener_.retried, SizeIs(1))
      << "the last attempt is not a retry";
  EXPECT_TRUE(listener_.completed.empty());
  const absl::Status outcome = engine_->outcome();
  EXPECT_EQ(outcome.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(outcome.message()), HasSubstr("min_updates"));
  EXPECT_THAT(std::string(outcome.message()), HasSubstr("2 attempts"));
  EXPECT_THAT(Global(), ElementsAre(7.0f));
  absl::StatusOr<FetchOutcome> out = engine_->FetchTask("a");
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->run_finished);
  EXPECT_THAT(out->reason, HasSubstr("min_updates"));

  std::atomic<bool> stop{false};
  EXPECT_EQ(engine_->RunUntilDone(stop).code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_THAT(listener_.ended, SizeIs(1));
  EXPECT_EQ(listener_.ended[0].code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(RoundEngineTest, RejectUpdateLetsTheRoundCloseWithoutWaiting) {
  Start(BaseConfig(), {0.0f});
  RegisterAll({"a", "b"});
  TickAndFetch();
  ASSERT_TRUE(engine_->SubmitUpdate("a", Submission(1, 1, 0, {5.0f})).ok());
  // Rejections that do not match the open round are ignored.
  engine_->RejectUpdate("b", "other-run", 1, absl::DataLossError("bad chunk"));
  engine_->RejectUpdate("b", kRunId, 2, absl::DataLossError("bad chunk"));
  engine_->RejectUpdate("a", kRunId, 1,
                        absl::DataLossError("already accepted"));
  TickAndFetch();
  EXPECT_TRUE(listener_.completed.empty());

  engine_->RejectUpdate("b", kRunId, 1, absl::DataLossError("bad chunk"));
  TickAndFetch();
  ASSERT_THAT(listener_.completed, SizeIs(1));
  EXPECT_EQ(listener_.completed[0].summary.participants, 1);
  EXPECT_EQ(listener_.completed[0].summary.rejected, 1);
  EXPECT_THAT(Global(), ElementsAre(5.0f));
}

TEST_F(RoundEngineTest, ListenerErrorFailsTheRunAndKeepsTheGlobalModel) {
  listener_.fail_with = absl::UnavailableError("disk full");
  Start(BaseConfig(), {1.0f, 2.0f});
  RecordingListener later;
  engine_->AddListener(&later);
  RegisterAll({"a"});
  TickAndFetch();
  ASSERT_TRUE(
      engine_->SubmitUpdate("a", Submission(1, 1, 0, {1.0f, 1.0f})).ok());
  TickAndFetch();

  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFailed);
  EXPECT_THAT(std::string(engine_->outcome().message()),
              HasSubstr("disk full"));
  EXPECT_FALSE(engine_->outcome().ok());
  EXPECT_EQ(Global(), initial_);
  EXPECT_EQ(engine_->model_version(), 0u);
  EXPECT_TRUE(later.completed.empty())
      << "a round that failed to persist was published";
  // Halted, not finished: a restarted coordinator resumes from the last
  // recorded round, so clients must keep polling (issue 13).
  absl::StatusOr<FetchOutcome> out = engine_->FetchTask("a");
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->run_halted);
  EXPECT_FALSE(out->run_finished);
  EXPECT_FALSE(out->run_failed);
  EXPECT_THAT(out->reason, HasSubstr("disk full"));
  EXPECT_TRUE(engine_->halted());
}

TEST_F(RoundEngineTest, ClientNotSeenWithinLivenessIsNotSampled) {
  RoundEngineConfig config = BaseConfig();
  config.client_liveness = std::chrono::seconds(120);
  Start(config, {0.0f});
  RegisterAll({"a", "b", "stale"});
  clock_.Advance(std::chrono::seconds(90));
  ASSERT_TRUE(engine_->Heartbeat("a").ok());
  ASSERT_TRUE(engine_->Heartbeat("b").ok());
  clock_.Advance(std::chrono::seconds(31));  // stale: 121 s; a, b: 31 s
  engine_->Tick();
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
  EXPECT_THAT(Selected({"a", "b", "stale"}), ElementsAre("a", "b"));
}

TEST_F(RoundEngineTest, DeadClientsDoNotCountTowardsMinClients) {
  RoundEngineConfig config = BaseConfig();
  config.min_clients = 3;
  config.client_liveness = std::chrono::seconds(120);
  Start(config, {0.0f});
  RegisterAll({"a", "b", "stale"});
  clock_.Advance(std::chrono::seconds(100));
  ASSERT_TRUE(engine_->Heartbeat("a").ok());
  ASSERT_TRUE(engine_->Heartbeat("b").ok());
  clock_.Advance(std::chrono::seconds(21));
  engine_->Tick();
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kWaitingForClients);
  // Coming back makes it live again.
  ASSERT_TRUE(engine_->Heartbeat("stale").ok());
  engine_->Tick();
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
}

TEST_F(RoundEngineTest, ResumedRunExecutesOnlyTheRemainingRounds) {
  RoundEngineConfig config = BaseConfig();
  config.num_rounds = 4;
  Start(config, {10.0f}, /*start_round=*/3);
  EXPECT_EQ(engine_->model_version(), 2u);
  RegisterAll({"a"});
  std::vector<uint64_t> rounds_seen;
  for (int i = 0; i < 10 && engine_->phase() != RoundEngine::Phase::kFinished;
       ++i) {
    engine_->Tick();
    absl::StatusOr<FetchOutcome> out = engine_->FetchTask("a");
    ASSERT_TRUE(out.ok());
    if (!out->task.has_value()) continue;
    EXPECT_EQ(out->task->model_version, out->task->round - 1);
    rounds_seen.push_back(out->task->round);
    ASSERT_TRUE(
        engine_->SubmitUpdate("a", Submission(out->task->round, 1, 0, {1.0f}))
            .ok());
  }
  EXPECT_THAT(rounds_seen, ElementsAre(3u, 4u));
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  ASSERT_THAT(listener_.completed, SizeIs(2));
  EXPECT_EQ(listener_.completed[0].summary.round, 3u);
  EXPECT_EQ(listener_.completed[0].summary.model_version, 3u);
  EXPECT_EQ(listener_.completed[1].summary.round, 4u);
  EXPECT_THAT(Global(), ElementsAre(12.0f));
}

TEST_F(RoundEngineTest, ResumingAfterTheLastRoundIsAlreadyFinished) {
  RoundEngineConfig config = BaseConfig();
  config.num_rounds = 4;
  Start(config, {1.0f}, /*start_round=*/5);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  RegisterAll({"a"});
  engine_->Tick();
  absl::StatusOr<FetchOutcome> out = engine_->FetchTask("a");
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->run_finished);
  EXPECT_TRUE(listener_.completed.empty());
}

TEST_F(RoundEngineTest, EvaluatorMetricsReachTheListener) {
  FixedEvaluator evaluator(EvalMetrics{0.75, 0.5, 1234});
  Start(BaseConfig(), {1.0f}, 1, &evaluator);
  RegisterAll({"a"});
  TickAndFetch();
  ASSERT_TRUE(engine_->SubmitUpdate("a", Submission(1, 1, 0, {2.0f})).ok());
  TickAndFetch();
  ASSERT_THAT(listener_.completed, SizeIs(1));
  ASSERT_TRUE(listener_.completed[0].summary.eval.has_value());
  EXPECT_DOUBLE_EQ(listener_.completed[0].summary.eval->accuracy, 0.75);
  EXPECT_EQ(listener_.completed[0].summary.eval->num_examples, 1234u);
  ASSERT_THAT(evaluator.seen, SizeIs(1));
  EXPECT_THAT(evaluator.seen[0], ElementsAre(3.0f))
      << "evaluated the old model";
}

TEST_F(RoundEngineTest, EvaluatorFailureDoesNotFailTheRun) {
  FixedEvaluator evaluator(absl::InternalError("test set unreadable"));
  Start(BaseConfig(), {1.0f}, 1, &evaluator);
  RegisterAll({"a"});
  TickAndFetch();
  ASSERT_TRUE(engine_->SubmitUpdate("a", Submission(1, 1, 0, {2.0f})).ok());
  TickAndFetch();
  ASSERT_THAT(listener_.completed, SizeIs(1));
  EXPECT_FALSE(listener_.completed[0].summary.eval.has_value());
  EXPECT_NE(engine_->phase(), RoundEngine::Phase::kFailed);
  EXPECT_THAT(Global(), ElementsAre(3.0f));
}

TEST_F(RoundEngineTest, RunUntilDoneStoppedEarlyReportsCancelled) {
  Start(BaseConfig(), {1.0f});
  std::atomic<bool> stop{true};
  EXPECT_EQ(engine_->RunUntilDone(stop).code(), absl::StatusCode::kCancelled);
  ASSERT_THAT(listener_.ended, SizeIs(1));
  EXPECT_EQ(listener_.ended[0].code(), absl::StatusCode::kCancelled);
}

TEST(RoundEngineCreateTest, RejectsInvalidArguments) {
  FakeClock clock;
  EXPECT_FALSE(
      RoundEngine::Create(BaseConfig(), MakeModel({1.0f}), 1, nullptr, nullptr)
          .ok());
  EXPECT_FALSE(
      RoundEngine::Create(BaseConfig(), MakeModel({}), 1, &clock, nullptr)
          .ok());
  EXPECT_FALSE(
      RoundEngine::Create(BaseConfig(), MakeModel({1.0f}), 0, &clock, nullptr)
          .ok());
  EXPECT_FALSE(RoundEngine::Create(
                   BaseConfig(),
                   MakeModel({1.0f, std::numeric_limits<float>::quiet_NaN()}),
                   1, &clock, nullptr)
                   .ok());
  FlatModel mismatched = MakeModel({1.0f, 2.0f});
  mismatched.spec.tensors[0].shape = {3};
  EXPECT_EQ(RoundEngine::Create(BaseConfig(), std::move(mismatched), 1, &clock,
                                nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      RoundEngine::Create(BaseConfig(), MakeModel({1.0f}), 1, &clock, nullptr)
          .ok());
}

struct ConfigCase {
  std::string name;
  std::function<void(RoundEngineConfig&)> spoil;
  std::string message;
};

void PrintTo(const ConfigCase& c, std::ostream* os) { *os << c.name; }

class RoundEngineConfigTest : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(RoundEngineConfigTest, ValidateRejects) {
  RoundEngineConfig config = BaseConfig();
  ASSERT_TRUE(config.Validate().ok());
  GetParam().spoil(config);
  absl::Status s = config.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr(GetParam().message));
  FakeClock clock;
  EXPECT_FALSE(
      RoundEngine::Create(config, MakeModel({1.0f}), 1, &clock, nullptr).ok());
}

INSTANTIATE_TEST_SUITE_P(
    RoundEngineConfigTest, RoundEngineConfigTest,
    ::testing::Values(
        ConfigCase{"MinUpdatesAboveClientsPerRound",
                   [](RoundEngineConfig& c) {
                     c.clients_per_round = 3;
                     c.min_updates = 4;
                   },
                   "min_updates (4) exceeds clients_per_round (3)"},
        ConfigCase{"EmptyRunId", [](RoundEngineConfig& c) { c.run_id.clear(); },
                   "run_id"},
        ConfigCase{"ZeroRounds", [](RoundEngineConfig& c) { c.num_rounds = 0; },
                   "rounds"},
        ConfigCase{"ZeroMinClients",
                   [](RoundEngineConfig& c) { c.min_clients = 0; },
                   "min_clients"},
        ConfigCase{"NegativeClientsPerRound",
                   [](RoundEngineConfig& c) { c.clients_per_round = -1; },
                   "clients_per_round"},
        ConfigCase{"ZeroFraction", [](RoundEngineConfig& c) { c.fraction = 0; },
                   "fraction"},
        ConfigCase{"FractionAboveOne",
                   [](RoundEngineConfig& c) { c.fraction = 1.5; }, "fraction"},
        ConfigCase{"NaNFraction",
                   [](RoundEngineConfig& c) {
                     c.fraction = std::numeric_limits<double>::quiet_NaN();
                   },
                   "fraction"},
        ConfigCase{"ZeroMinUpdates",
                   [](RoundEngineConfig& c) { c.min_updates = 0; },
                   "min_updates"},
        ConfigCase{"ZeroTimeout",
                   [](RoundEngineConfig& c) { c.round_timeout = Duration(0); },
                   "round_timeout"},
        ConfigCase{"ZeroAttempts",
                   [](RoundEngineConfig& c) { c.max_round_attempts = 0; },
                   "max_round_attempts"},
        ConfigCase{"ZeroServerLearningRate",
                   [](RoundEngineConfig& c) { c.server_learning_rate = 0; },
                   "server_learning_rate"},
        ConfigCase{"InfServerLearningRate",
                   [](RoundEngineConfig& c) {
                     c.server_learning_rate =
                         std::numeric_limits<double>::infinity();
                   },
                   "server_learning_rate"},
        ConfigCase{"ZeroMaxExamples",
                   [](RoundEngineConfig& c) { c.max_examples_per_update = 0; },
                   "max_examples_per_update"},
        ConfigCase{"ZeroMaxUpdateNorm",
                   [](RoundEngineConfig& c) { c.max_update_l2_norm = 0; },
                   "max_update_l2_norm"},
        ConfigCase{"InfiniteMaxUpdateNorm",
                   [](RoundEngineConfig& c) {
                     c.max_update_l2_norm =
                         std::numeric_limits<double>::infinity();
                   },
                   "max_update_l2_norm"}),
    [](const ::testing::TestParamInfo<ConfigCase>& info) {
      return info.param.name;
    });

// Property: whatever the cohort and whoever answers, the new global model is
// the old one plus the example-weighted mean of exactly the accepted updates.
TEST(RoundEnginePropertyTest,
     AggregateIsWeightedMeanOfExactlyTheAcceptedUpdates) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    const int n = std::uniform_int_distribution<int>(1, 30)(rng);
    const int k = std::uniform_int_distribution<int>(1, n)(rng);
    const size_t dim = std::uniform_int_distribution<size_t>(1, 64)(rng);
    FakeClock clock;
    RecordingListener listener;
    RoundEngineConfig config = BaseConfig();
    config.seed = seed;
    config.num_rounds = 1;
    config.min_clients = n;
    config.clients_per_round = k;
    const std::vector<float> initial = RandomVector(dim, rng);
    auto created =
        RoundEngine::Create(config, MakeModel(initial), 1, &clock, nullptr);
    ASSERT_TRUE(created.ok());
    RoundEngine& engine = **created;
    engine.AddListener(&listener);
    const std::vector<std::string> ids = ClientIds(n);
    for (const std::string& id : ids) {
      ASSERT_TRUE(engine.Register(id, 1000).ok());
    }
    engine.Tick();

    std::vector<std::string> selected, outsiders;
    for (const std::string& id : ids) {
      auto out = engine.FetchTask(id);
      ASSERT_TRUE(out.ok());
      (out->task.has_value() ? selected : outsiders).push_back(id);
    }
    ASSERT_EQ(static_cast<int>(selected.size()), k);

    // Each selected client answers well (0), badly (1) or not at all (2);
    // at least one answers well so the round aggregates.
    std::uniform_int_distribution<int> action(0, 2);
    std::vector<int> actions(selected.size());
    for (int& a : actions) a = action(rng);
    if (std::count(actions.begin(), actions.end(), 0) == 0) {
      actions[std::uniform_int_distribution<size_t>(0, k - 1)(rng)] = 0;
    }
    std::vector<Contribution> accepted;
    int rejected = 0;
    std::uniform_int_distribution<int> examples(1, 1000);
    std::uniform_real_distribution<double> loss(0.0, 3.0);
    for (size_t i = 0; i < selected.size(); ++i) {
      if (actions[i] == 2) continue;
      Contribution c{RandomVector(dim, rng), static_cast<double>(examples(rng)),
                     loss(rng)};
      UpdateSubmission s =
          Submission(1, static_cast<uint64_t>(c.weight), c.loss, c.delta);
      if (actions[i] == 1) {
        s.delta[std::uniform_int_distribution<size_t>(0, dim - 1)(rng)] =
            std::numeric_limits<float>::quiet_NaN();
        ASSERT_EQ(engine.SubmitUpdate(selected[i], std::move(s)).code(),
                  absl::StatusCode::kInvalidArgument);
        ++rejected;
      } else {
        ASSERT_TRUE(engine.SubmitUpdate(selected[i], std::move(s)).ok());
        accepted.push_back(std::move(c));
      }
    }
    for (const std::string& id : outsiders) {
      ASSERT_EQ(
          engine.SubmitUpdate(id, Submission(1, 5, 0, RandomVector(dim, rng)))
              .code(),
          absl::StatusCode::kPermissionDenied);
    }
    clock.Advance(kTimeout);
    engine.Tick();

    ASSERT_THAT(listener.completed, SizeIs(1));
    const RoundSummary& summary = listener.completed[0].summary;
    EXPECT_EQ(summary.selected, k);
    EXPECT_EQ(summary.participants, static_cast<int>(accepted.size()));
    EXPECT_EQ(summary.rejected, rejected);
    EXPECT_NEAR(summary.train_loss, WeightedLoss(accepted), 1e-9);
    ExpectModelIsOldPlusWeightedMean(Values(engine.global_model()->values),
                                     initial, accepted);
    EXPECT_EQ(engine.phase(), RoundEngine::Phase::kFinished);
  }
}

}  // namespace
}  // namespace fedlearn
