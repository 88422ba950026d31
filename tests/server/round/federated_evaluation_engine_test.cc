// The round engine's federated evaluation over plaintext rounds: which rounds
// carry an evaluation task, the evaluation-only round after the last one
// (the model and the server optimizer untouched), how reports are checked
// and summed, and resuming a run whose final evaluation did not complete.
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/evaluation/site_eval_report.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "server/run_store.h"
#include "tests/server/round/test_models.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::MakeModel;
using ::fedlearn::testing::Values;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kRunId[] = "eval-run";

v1::RunContract EvalContract() {
  v1::RunContract contract;
  contract.mutable_model()->set_num_classes(2);
  v1::EvaluationSpec* spec = contract.mutable_evaluation();
  spec->set_holdout_fraction(0.2);
  spec->set_score_bins(10);
  spec->set_accuracy_bins(10);
  spec->set_loss_bins(10);
  spec->set_max_loss(20);
  spec->set_accuracy_threshold(0.5);
  return contract;
}

RoundEngineConfig EvalConfig(int every, int rounds, bool final) {
  RoundEngineConfig c;
  c.secagg.enabled = false;
  c.run_id = kRunId;
  c.num_rounds = rounds;
  c.min_clients = 1;
  c.fraction = 1.0;
  c.round_timeout = std::chrono::seconds(60);
  c.client_liveness = std::chrono::hours(10);
  c.max_examples_per_update = 1000;
  c.contract = EvalContract();
  c.evaluation.every = every;
  c.evaluation.final = final;
  c.evaluation.max_examples = 1000;
  return c;
}

EvalLayout Layout() { return *EvalLayout::FromContract(EvalContract()); }

// A binary site's report: `correct` of `examples` right (label 1 each).
std::vector<uint64_t> Report(int correct, int examples) {
  SiteEvalBuilder builder(Layout());
  for (int i = 0; i < examples; ++i) {
    EXPECT_TRUE(builder.Add(1, 1, i < correct ? 0.9 : 0.1, 0.5).ok());
  }
  return builder.Finish().ToVector(Layout());
}

UpdateSubmission Update(const Task& task, std::vector<float> delta,
                        std::vector<uint64_t> report, uint64_t examples = 10) {
  UpdateSubmission s;
  s.run_id = task.run_id;
  s.round = task.round;
  s.model_version = task.model_version;
  s.num_examples = examples;
  s.train_loss = 0.5;
  s.delta = FlatVector(std::move(delta));
  s.eval_report = std::move(report);
  return s;
}

class Recorder : public RoundListener {
 public:
  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override {
    rounds.push_back(summary);
    models.push_back(Values(global.values));
    return absl::OkStatus();
  }
  absl::Status OnEvaluationCompleted(
      const FederatedEvalSummary& summary) override {
    evaluations.push_back(summary);
    return fail_evaluation;
  }
  std::vector<RoundSummary> rounds;
  std::vector<std::vector<float>> models;
  std::vector<FederatedEvalSummary> evaluations;
  absl::Status fail_evaluation;
};

class FederatedEvaluationEngineTest : public ::testing::Test {
 protected:
  void Start(RoundEngineConfig config, std::vector<std::string> clients,
             uint64_t start_round = 1) {
    absl::StatusOr<std::unique_ptr<RoundEngine>> engine =
        RoundEngine::Create(std::move(config), MakeModel({0.5f, -1.0f, 2.0f}),
                            start_round, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    engine_->AddListener(&recorder_);
    for (const std::string& id : clients) {
      ASSERT_TRUE(engine_->Register(id, 100).ok());
    }
    clients_ = std::move(clients);
  }
  Task Fetch(const std::string& id) {
    absl::StatusOr<FetchOutcome> out = engine_->FetchTask(id);
    EXPECT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(out->task.has_value()) << out->reason;
    return *out->task;
  }
  // Every client answers the open round: a delta, and the report `reports`
  // gives it when the task asks for one. Returns the tasks.
  std::vector<Task> AnswerRound(
      const std::vector<std::vector<uint64_t>>& reports,
      std::vector<float> delta = {0.1f, 0.2f, -0.3f}) {
    engine_->Tick();
    EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
    std::vector<Task> tasks;
    for (size_t i = 0; i < clients_.size(); ++i) {
      Task task = Fetch(clients_[i]);
      std::vector<uint64_t> report;
      if (task.evaluation.has_value()) report = reports[i];
      const uint64_t examples =
          task.evaluation && task.evaluation->evaluate_only() ? 0 : 10;
      EXPECT_TRUE(
          engine_
              ->SubmitUpdate(clients_[i], Update(task, delta, report, examples))
              .ok());
      tasks.push_back(std::move(task));
    }
    engine_->Tick();
    return tasks;
  }

  FakeClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::vector<std::string> clients_;
  Recorder recorder_;
};

TEST_F(FederatedEvaluationEngineTest,
       EvaluatesEveryKthRoundThenTheFinalModelWithoutTouchingIt) {
  RoundEngineConfig config = EvalConfig(/*every=*/2, /*rounds=*/3, true);
  // Server momentum: a further optimizer step would move the model even
  // with zero deltas, so an untouched model shows no step was taken.
  config.strategy.kind = ServerOptimizerConfig::Kind::kFedAvgM;
  Start(std::move(config), {"a", "b"});
  const std::vector<std::vector<uint64_t>> reports = {Report(7, 10),
                                                      Report(9, 10)};
  std::vector<bool> evaluated;
  for (int r = 1; r <= 3; ++r) {
    std::vector<Task> tasks = AnswerRound(reports);
    evaluated.push_back(tasks[0].evaluation.has_value());
    if (tasks[0].evaluation) {
      EXPECT_FALSE(tasks[0].evaluation->evaluate_only());
      EXPECT_EQ(tasks[0].evaluation->max_examples(), 1000u);
    }
  }
  EXPECT_THAT(evaluated, ElementsAre(true, false, true));
  ASSERT_EQ(recorder_.rounds.size(), 3u);
  ASSERT_TRUE(recorder_.rounds[0].federated_eval.has_value());
  EXPECT_EQ(recorder_.rounds[0].federated_eval->model_version, 0u);
  EXPECT_FALSE(recorder_.rounds[1].federated_eval.has_value());
  ASSERT_TRUE(recorder_.rounds[2].federated_eval.has_value());
  EXPECT_EQ(recorder_.rounds[2].federated_eval->model_version, 2u);
  // The run goes on (the evaluation-only round opens with the next tick).
  EXPECT_NE(engine_->phase(), RoundEngine::Phase::kFinished);

  // The evaluation-only round: its (nonzero!) deltas are ignored.
  std::vector<Task> tasks = AnswerRound(reports, {5.0f, 5.0f, 5.0f});
  ASSERT_TRUE(tasks[0].evaluation.has_value());
  EXPECT_TRUE(tasks[0].evaluation->evaluate_only());
  EXPECT_EQ(tasks[0].round, 4u);
  EXPECT_EQ(tasks[0].model_version, 3u);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  EXPECT_TRUE(engine_->outcome().ok()) << engine_->outcome();
  EXPECT_EQ(recorder_.rounds.size(), 3u) << "no OnRoundCompleted for it";
  ASSERT_EQ(recorder_.evaluations.size(), 1u);
  const FederatedEvalSummary& final_eval = recorder_.evaluations[0];
  EXPECT_EQ(final_eval.round, 4u);
  EXPECT_EQ(final_eval.model_version, 3u);
  EXPECT_TRUE(final_eval.evaluate_only);
  EXPECT_EQ(final_eval.stats.examples, 20u);
  const std::vector<float> after = Values(engine_->global_model()->values);
  ASSERT_EQ(after.size(), recorder_.models[2].size());
  EXPECT_EQ(std::memcmp(after.data(), recorder_.models[2].data(),
                        after.size() * sizeof(float)),
            0)
      << "the evaluation-only round changed the model";
}

TEST_F(FederatedEvaluationEngineTest, PlaintextReportsAreSummedPerSite) {
  RoundEngineConfig config = EvalConfig(1, 1, /*final=*/false);
  config.evaluation.per_site = true;
  Start(std::move(config), {"a", "b", "c"});
  // c has no held-out split: a zero report, not counted as a site.
  AnswerRound({Report(8, 10), Report(15, 20),
               SiteEvalReport::Zero(Layout()).ToVector(Layout())});
  ASSERT_EQ(recorder_.rounds.size(), 1u);
  ASSERT_TRUE(recorder_.rounds[0].federated_eval.has_value());
  const FederatedEvalSummary& e = *recorder_.rounds[0].federated_eval;
  EXPECT_FALSE(e.secure);
  EXPECT_EQ(e.stats.sites, 2u);
  EXPECT_EQ(e.stats.examples, 30u);
  EXPECT_DOUBLE_EQ(e.stats.accuracy, 23.0 / 30.0);
  EXPECT_TRUE(e.stats.accuracy_spread.exact);
  EXPECT_DOUBLE_EQ(e.stats.accuracy_spread.min, 0.75);
  ASSERT_EQ(e.per_site.size(), 2u);
  EXPECT_EQ(e.per_site[0].first, "a");
  EXPECT_DOUBLE_EQ(e.per_site[0].second.accuracy, 0.8);
  EXPECT_EQ(e.per_site[1].first, "b");
  EXPECT_DOUBLE_EQ(e.per_site[1].second.accuracy, 0.75);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  EXPECT_TRUE(recorder_.evaluations.empty()) << "final = false";
  // The metrics line carries it.
  const nlohmann::json line =
      nlohmann::json::parse(RoundSummaryToJson(recorder_.rounds[0], 1));
  ASSERT_TRUE(line.contains("federated_eval"));
  EXPECT_EQ(line["federated_eval"]["model_version"], 0);
  EXPECT_EQ(line["federated_eval"]["examples"], 30);
  EXPECT_EQ(line["federated_eval"]["per_site"][1]["site"], "b");
}

TEST_F(FederatedEvaluationEngineTest, BadOrMissingReportRejectsTheUpdate) {
  Start(EvalConfig(1, 1, false), {"a", "b", "c"});
  engine_->Tick();
  std::vector<uint64_t> forged = Report(5, 10);
  forged[1] = 11;  // correct > examples
  Task ta = Fetch("a");
  absl::Status bad = engine_->SubmitUpdate("a", Update(ta, {0, 0, 0}, forged));
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("evaluation report"));
  Task tb = Fetch("b");
  absl::Status missing = engine_->SubmitUpdate("b", Update(tb, {0, 0, 0}, {}));
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  Task tc = Fetch("c");
  ASSERT_TRUE(
      engine_->SubmitUpdate("c", Update(tc, {0, 0, 0}, Report(3, 4))).ok());
  engine_->Tick();
  ASSERT_EQ(recorder_.rounds.size(), 1u);
  EXPECT_EQ(recorder_.rounds[0].participants, 1);
  EXPECT_EQ(recorder_.rounds[0].rejected, 2);
  EXPECT_EQ(recorder_.rounds[0].federated_eval->stats.examples, 4u);
}

TEST_F(FederatedEvaluationEngineTest, OffByDefaultNothingChanges) {
  RoundEngineConfig config = EvalConfig(0, 1, true);
  config.contract = v1::RunContract();
  Start(std::move(config), {"a"});
  std::vector<Task> tasks = AnswerRound({{}});
  EXPECT_FALSE(tasks[0].evaluation.has_value());
  ASSERT_EQ(recorder_.rounds.size(), 1u);
  EXPECT_FALSE(recorder_.rounds[0].federated_eval.has_value());
  EXPECT_FALSE(nlohmann::json::parse(RoundSummaryToJson(recorder_.rounds[0], 1))
                   .contains("federated_eval"));
  EXPECT_TRUE(recorder_.evaluations.empty());
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
}

TEST_F(FederatedEvaluationEngineTest, ResumeRedoesAnUnrecordedFinalEvaluation) {
  // Rounds 1-2 are committed; the final evaluation is not recorded.
  Start(EvalConfig(1, 2, true), {"a"}, /*start_round=*/3);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kWaitingForClients);
  std::vector<Task> tasks = AnswerRound({Report(1, 2)});
  EXPECT_TRUE(tasks[0].evaluation->evaluate_only());
  EXPECT_EQ(tasks[0].model_version, 2u);
  EXPECT_TRUE(recorder_.rounds.empty());
  ASSERT_EQ(recorder_.evaluations.size(), 1u);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
}

TEST_F(FederatedEvaluationEngineTest, ResumeSkipsARecordedFinalEvaluation) {
  RoundEngineConfig config = EvalConfig(1, 2, true);
  config.evaluation.final_done = true;
  Start(std::move(config), {"a"}, 3);
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
}

TEST_F(FederatedEvaluationEngineTest, UnrecordedEvaluationHaltsTheRun) {
  Start(EvalConfig(1, 1, true), {"a"}, 2);
  recorder_.fail_evaluation = absl::DataLossError("disk full");
  AnswerRound({Report(1, 2)});
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFailed);
  EXPECT_TRUE(engine_->halted()) << "a restart redoes the evaluation";
  EXPECT_THAT(std::string(engine_->outcome().message()),
              HasSubstr("could not be recorded"));
}

TEST_F(FederatedEvaluationEngineTest, EvaluationOnlyJobTrainsNothing) {
  RoundEngineConfig config = EvalConfig(0, 0, true);
  config.evaluation.job = true;
  config.evaluation.model_file = "/models/x.fmodel";
  Start(std::move(config), {"a", "b"});
  std::vector<Task> tasks = AnswerRound({Report(1, 2), Report(2, 2)});
  EXPECT_TRUE(tasks[0].evaluation->evaluate_only());
  EXPECT_EQ(tasks[0].round, 1u);
  ASSERT_EQ(recorder_.evaluations.size(), 1u);
  EXPECT_EQ(recorder_.evaluations[0].model_file, "/models/x.fmodel");
  EXPECT_EQ(recorder_.evaluations[0].stats.examples, 4u);
  EXPECT_TRUE(recorder_.rounds.empty());
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
}

TEST(FederatedEvaluationConfigTest, RefusesDpAndBadRanges) {
  RoundEngineConfig config = EvalConfig(1, 2, true);
  config.dp.mode = DpConfig::Mode::kCentral;
  EXPECT_THAT(std::string(config.Validate().message()),
              HasSubstr("differential privacy"));
  config = EvalConfig(-1, 2, true);
  EXPECT_THAT(std::string(config.Validate().message()),
              HasSubstr("evaluation.every"));
  config = EvalConfig(1, 2, true);
  config.evaluation.max_examples = 0;
  EXPECT_THAT(std::string(config.Validate().message()),
              HasSubstr("max_examples"));
  // Reports whose loss totals could not be summed without wrapping.
  config = EvalConfig(1, 2, true);
  config.evaluation.max_examples = uint64_t{1} << 40;
  config.contract.mutable_evaluation()->set_max_loss(1e6);
  EXPECT_THAT(std::string(config.Validate().message()),
              HasSubstr("could overflow 64 bits"));
  config.max_registered_clients = 1;
  config.contract.mutable_evaluation()->set_max_loss(1);
  EXPECT_TRUE(config.Validate().ok()) << config.Validate();
  config = EvalConfig(1, 2, true);
  config.contract.mutable_evaluation()->set_accuracy_bins(0);
  FakeClock clock;
  EXPECT_FALSE(
      RoundEngine::Create(config, MakeModel({1.0f}), 1, &clock, nullptr).ok());
}

}  // namespace
}  // namespace fedlearn
