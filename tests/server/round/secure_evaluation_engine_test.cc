// Federated evaluation under secure aggregation, without any network: the
// real RoundEngine on a FakeClock and real SecAggClients whose masked
// vectors are the update's encoding followed by EvalVectorCodec's encoding
// of the site's report (as the client daemon sends them). The coordinator
// learns only the sum: what it publishes must equal the statistics of the
// plaintext sum of the same reports, and the evaluation-only round after the
// last round must leave the model bit for bit as it was.
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/secagg/secagg_client.h"
#include "common/evaluation/eval_statistics_json.h"
#include "common/evaluation/eval_vector_codec.h"
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
using ::fedlearn::testing::Values;

constexpr int kClients = 4;

v1::RunContract EvalContract() {
  v1::RunContract contract;
  contract.mutable_model()->set_num_classes(2);
  v1::EvaluationSpec* spec = contract.mutable_evaluation();
  spec->set_holdout_fraction(0.2);
  spec->set_score_bins(8);
  spec->set_accuracy_bins(10);
  spec->set_loss_bins(5);
  spec->set_max_loss(10);
  spec->set_accuracy_threshold(0.6);
  return contract;
}

EvalLayout Layout() { return *EvalLayout::FromContract(EvalContract()); }

RoundEngineConfig SecureEvalConfig(bool per_site) {
  RoundEngineConfig c;
  c.run_id = "secure-eval";
  c.num_rounds = 1;
  c.min_clients = kClients;
  c.clients_per_round = kClients;
  c.round_timeout = std::chrono::minutes(10);
  c.client_liveness = std::chrono::hours(10);
  c.max_examples_per_update = 100'000;
  c.secagg.enabled = true;
  c.secagg.modulus_bits = 32;
  c.secagg.quantization_bits = 16;
  c.secagg.clip_range = 1.0;
  c.secagg.max_weight = 10'000;
  c.secagg.phase_timeout = std::chrono::seconds(30);
  c.secagg.ca_pem = TestPki::Get().ca_pem();
  c.contract = EvalContract();
  c.evaluation.every = 1;
  c.evaluation.final = true;
  c.evaluation.max_examples = 500;
  c.evaluation.per_site = per_site;
  return c;
}

// Site i: 20 + 10 i examples, a mix of right and wrong, both labels.
SiteEvalReport SiteReport(int i) {
  SiteEvalBuilder builder(Layout());
  const int n = 20 + 10 * i;
  for (int k = 0; k < n; ++k) {
    const int label = k % 3 == 0 ? 0 : 1;
    const double p1 = ((k * 7 + i) % 10) / 10.0 + 0.05;
    EXPECT_TRUE(builder.Add(label, p1 >= 0.5, p1, 0.1 * (k % 7), -1).ok());
  }
  return builder.Finish();
}

// The client daemon's masked vector in an evaluation round: the update's
// encoding followed by the codec's encoding of the site's report.
SteppedSecAggClient::Encoder EvalEncoder(int index, SiteEvalReport report) {
  return [index, report = std::move(report)](
             const Task& task) -> absl::StatusOr<std::vector<uint32_t>> {
    if (!task.evaluation) return absl::InternalError("no evaluation task");
    const bool only = task.evaluation->evaluate_only();
    // Evaluation only: an all-zero update of weight 1 (the encoding refuses
    // zero examples; the coordinator ignores this part of the sum).
    std::vector<float> delta(task.model->values.size(), only ? 0.0f : 0.25f);
    absl::StatusOr<std::vector<uint32_t>> values = EncodePlainUpdate(
        task, delta, only ? 1 : 100 + index, only ? 0.0 : 1.0);
    if (!values.ok()) return values.status();
    absl::StatusOr<EvalVectorCodec> codec = EvalVectorCodec::Create(
        Layout(), static_cast<int>(task.secagg->modulus_bits()),
        static_cast<int>(task.encoding.max_clients()),
        task.evaluation->max_examples());
    if (!codec.ok()) return codec.status();
    absl::StatusOr<std::vector<uint32_t>> tail = codec->Encode(report);
    if (!tail.ok()) return tail.status();
    values->insert(values->end(), tail->begin(), tail->end());
    return values;
  };
}

// The report a site sends in the clear with per_site; `forge` breaks it
// (correct > examples).
std::vector<uint64_t> ClearReport(const SiteEvalReport& report, bool per_site,
                                  bool forge) {
  if (!per_site) return {};
  std::vector<uint64_t> clear = report.ToVector(Layout());
  if (forge) clear[1] = clear[0] + 1;
  return clear;
}

class Recorder : public RoundListener {
 public:
  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override {
    rounds.push_back(summary);
    models.push_back(Values(global.values));
    return absl::OkStatus();
  }
  absl::Status OnEvaluationCompleted(const FederatedEvalSummary& s) override {
    evaluations.push_back(s);
    return absl::OkStatus();
  }
  std::vector<RoundSummary> rounds;
  std::vector<std::vector<float>> models;
  std::vector<FederatedEvalSummary> evaluations;
};

class SecureEvaluationEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kClients; ++i) {
      reports_.push_back(SiteReport(i));
      ASSERT_TRUE(plain_sum_.Add(reports_.back()).ok());
    }
  }
  void Start(bool per_site) {
    auto engine = RoundEngine::Create(SecureEvalConfig(per_site),
                                      MakeModel(std::vector<float>(6, 0.5f)), 1,
                                      &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    engine_->AddListener(&recorder_);
    for (int i = 0; i < kClients; ++i) {
      ASSERT_TRUE(engine_->Register(TestPki::ClientId(i), 10'000).ok());
    }
  }
  // Opens the next round and runs it with every client to its end.
  void RunRound(bool per_site, int forger = -1) {
    engine_->Tick();
    ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
    std::vector<std::unique_ptr<SteppedSecAggClient>> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(std::make_unique<SteppedSecAggClient>(
          i, EvalEncoder(i, reports_[i]),
          ClearReport(reports_[i], per_site, i == forger)));
      ASSERT_NO_FATAL_FAILURE(clients.back()->Begin(*engine_));
    }
    for (int k = 0; k < 40; ++k) {
      for (auto& c : clients) c->Step(*engine_);
      const size_t before =
          recorder_.rounds.size() + recorder_.evaluations.size();
      // By now the honest clients sent their masked inputs: a phase waiting
      // for a client that dropped out closes at its deadline.
      if (k == 20) clock_.Advance(std::chrono::seconds(31));
      engine_->Tick();
      if (recorder_.rounds.size() + recorder_.evaluations.size() > before) {
        if (forger >= 0) forged_status_ = clients[forger]->masked_status();
        return;
      }
    }
    FAIL() << "the round did not complete";
  }
  nlohmann::json ExpectedStats() const {
    return EvalStatisticsToJson(SummarizeSum(Layout(), plain_sum_, {}));
  }

  FakeClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  Recorder recorder_;
  std::vector<SiteEvalReport> reports_;
  SiteEvalReport plain_sum_ = SiteEvalReport::Zero(Layout());
  absl::Status forged_status_;
};

TEST_F(SecureEvaluationEngineTest, DecodedSumEqualsThePlaintextSum) {
  Start(/*per_site=*/false);
  RunRound(false);
  ASSERT_EQ(recorder_.rounds.size(), 1u);
  ASSERT_TRUE(recorder_.rounds[0].federated_eval.has_value());
  const FederatedEvalSummary& e = *recorder_.rounds[0].federated_eval;
  EXPECT_TRUE(e.secure);
  EXPECT_EQ(e.model_version, 0u);
  EXPECT_EQ(e.stats.examples, plain_sum_.examples);
  EXPECT_EQ(e.stats.sites, static_cast<uint64_t>(kClients));
  EXPECT_EQ(EvalStatisticsToJson(e.stats), ExpectedStats());
  EXPECT_TRUE(e.per_site.empty()) << "per_site is off";

  // The final evaluation-only round: the same sum, the model untouched.
  RunRound(false);
  ASSERT_EQ(recorder_.evaluations.size(), 1u);
  EXPECT_EQ(recorder_.rounds.size(), 1u);
  EXPECT_EQ(recorder_.evaluations[0].model_version, 1u);
  EXPECT_EQ(EvalStatisticsToJson(recorder_.evaluations[0].stats),
            ExpectedStats());
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  const std::vector<float> after = Values(engine_->global_model()->values);
  ASSERT_EQ(after.size(), recorder_.models[0].size());
  EXPECT_EQ(std::memcmp(after.data(), recorder_.models[0].data(),
                        after.size() * sizeof(float)),
            0);
}

TEST_F(SecureEvaluationEngineTest, PerSiteReportsComeInTheClear) {
  Start(/*per_site=*/true);
  RunRound(true);
  ASSERT_EQ(recorder_.rounds.size(), 1u);
  const FederatedEvalSummary& e = *recorder_.rounds[0].federated_eval;
  EXPECT_EQ(EvalStatisticsToJson(e.stats), ExpectedStats());
  ASSERT_EQ(e.per_site.size(), static_cast<size_t>(kClients));
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(e.per_site[i].first, TestPki::ClientId(i));
    EXPECT_EQ(EvalStatisticsToJson(e.per_site[i].second),
              EvalStatisticsToJson(SummarizeSite(Layout(), reports_[i], {})));
  }
}

TEST_F(SecureEvaluationEngineTest, BadClearReportRefusesTheMaskedInput) {
  Start(/*per_site=*/true);
  RunRound(true, /*forger=*/2);
  EXPECT_EQ(forged_status_.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(forged_status_.message()),
              ::testing::HasSubstr("evaluation report"));
  ASSERT_EQ(recorder_.rounds.size(), 1u);
  const FederatedEvalSummary& e = *recorder_.rounds[0].federated_eval;
  EXPECT_EQ(e.participants, kClients - 1);
  EXPECT_EQ(e.stats.sites, static_cast<uint64_t>(kClients - 1));
  ASSERT_EQ(e.per_site.size(), static_cast<size_t>(kClients - 1));
  for (const auto& [id, stats] : e.per_site) {
    EXPECT_NE(id, TestPki::ClientId(2));
  }
}

TEST_F(SecureEvaluationEngineTest, MaskedVectorGrowsByTheCodecLength) {
  Start(false);
  engine_->Tick();
  absl::StatusOr<EvalVectorCodec> codec =
      EvalVectorCodec::Create(Layout(), 32, kClients, 500);
  ASSERT_TRUE(codec.ok());
  EXPECT_EQ(engine_->MaskedInputLength(),
            InputEncoder::EncodedLength(6) + codec->length());
}

}  // namespace
}  // namespace fedlearn
