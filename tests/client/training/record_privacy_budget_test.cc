// The site's record-level accountant (client/training/record_privacy_budget.h)
// and the trainer around it (record_dp_trainer.h): published DP-SGD epsilons
// through the site's own schedule (PlanDpSgd) and ledger, the budget
// refusal, the ledger file across restarts, and what leaves the site.
//
// Independent values: the Python port of TF Privacy's accountant in
// tests/common/dp/reference/tf_privacy_rdp.py, run as
//   import tf_privacy_rdp as t
//   orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
//   rdp = t.compute_rdp(q, z, steps, orders)
//   t.compute_eps_improved(orders, rdp, 1e-5); t.compute_eps_classic(...)
// gives for (q, z, steps) =
//   (256/60000, 1.1, 14063):   improved 2.596655528688368,
//   classic 3.0083810468253627 (256/60000, 1.1, 60*235):
//   improved 2.600342938610302 (0.04, 1.5, 2250): improved 7.3291111714386545
#include "client/training/record_privacy_budget.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "client/training/dp_sgd.h"
#include "client/training/record_dp_trainer.h"
#include "common/util/status_class.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

const std::atomic<bool> kNoCancel{false};

std::string TempPath(const std::string& name) {
  const std::string dir =
      testing::TempDir() + "/record_budget_" +
      testing::UnitTest::GetInstance()->current_test_info()->name();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir + "/" + name;
}

TEST(RecordPrivacyBudgetTest, OpacusPublishedEpsilonThroughTheSitesSchedule) {
  // opacus/tests/accountants_test.py: z 1.5, q 0.04, 2250 steps, delta 1e-5
  // -> 7.32911117143 (7 places). A site of 2500 records, batch 100, 90
  // local epochs in one round runs exactly that.
  const DpSgdPlan plan = *PlanDpSgd(2500, 100, 90);
  auto budget = *RecordPrivacyBudget::Open(1e-5, 10, "");
  EXPECT_NEAR(*budget->Spend(plan.sampling_rate, 1.5, plan.steps),
              7.32911117143, 5e-8);
  EXPECT_EQ(budget->trainings(), 1);
}

TEST(RecordPrivacyBudgetTest, TfPrivacyMnistTutorialEpsilon) {
  // TF Privacy's MNIST tutorial: N 60000, batch 256, z 1.1, 60 epochs,
  // delta 1e-5, 14063 steps: published 3.01 (classic conversion, %.3g).
  const DpSgdPlan plan = *PlanDpSgd(60000, 256, 60);
  auto budget = *RecordPrivacyBudget::Open(1e-5, 100, "");
  const double eps = *budget->Spend(plan.sampling_rate, 1.1, plan.steps);
  EXPECT_NEAR(eps, 2.596655528688368, 1e-6 * 2.6);
  const double classic = budget->accountant()
                             .GetPrivacySpent(1e-5, RdpConversion::kClassic)
                             ->epsilon;
  EXPECT_NEAR(classic, 3.0083810468253627, 1e-6 * 3.0);
  EXPECT_NEAR(classic, 3.01, 0.005);
}

TEST(RecordPrivacyBudgetTest, RoundsComposeInOneLedgerEntry) {
  // The same run as 60 rounds of one epoch: 60 x ceil(60000/256) = 14100.
  auto budget = *RecordPrivacyBudget::Open(1e-5, 100, "");
  const DpSgdPlan plan = *PlanDpSgd(60000, 256, 1);
  double eps = 0;
  for (int round = 0; round < 60; ++round) {
    eps = *budget->Spend(plan.sampling_rate, 1.1, plan.steps);
  }
  EXPECT_NEAR(eps, 2.600342938610302, 1e-6 * 2.6);
  ASSERT_EQ(budget->accountant().ledger().size(), 1u);
  EXPECT_EQ(budget->accountant().ledger()[0].steps, 14100);
  EXPECT_EQ(budget->trainings(), 60);
}

TEST(RecordPrivacyBudgetTest, RefusesATrainingThatWouldExceedTheBudget) {
  auto budget = *RecordPrivacyBudget::Open(1e-5, 7.3, "");
  absl::StatusOr<double> check = budget->CheckAffordable(0.04, 1.5, 2250);
  EXPECT_TRUE(absl::IsFailedPrecondition(check.status()));
  EXPECT_TRUE(IsRecordBudgetRefusal(check.status()));
  EXPECT_TRUE(IsPermanent(check.status()));
  EXPECT_NE(check.status().message().find("7.3291"), std::string::npos)
      << check.status();
  EXPECT_EQ(budget->epsilon(), 0.0);  // checking spends nothing

  auto roomy = *RecordPrivacyBudget::Open(1e-5, 7.33, "");
  EXPECT_NEAR(*roomy->CheckAffordable(0.04, 1.5, 2250), 7.32911117143, 5e-8);
  ASSERT_TRUE(roomy->Spend(0.04, 1.5, 2250).ok());
  // A second, identical training no longer fits.
  EXPECT_TRUE(
      IsRecordBudgetRefusal(roomy->CheckAffordable(0.04, 1.5, 2250).status()));
  EXPECT_FALSE(IsRecordBudgetRefusal(absl::FailedPreconditionError("x")));
}

TEST(RecordPrivacyBudgetTest, LedgerSurvivesARestartBitForBit) {
  const std::string path = TempPath("ledger.json");
  double eps = 0;
  {
    auto budget = *RecordPrivacyBudget::Open(1e-5, 10, path);
    ASSERT_TRUE(budget->Spend(0.01, 1.1, 300).ok());
    eps = *budget->Spend(0.02, 0.9, 50);
  }
  auto reopened = *RecordPrivacyBudget::Open(1e-5, 10, path);
  EXPECT_EQ(reopened->epsilon(), eps);  // exact
  EXPECT_EQ(reopened->trainings(), 2);
  ASSERT_EQ(reopened->accountant().ledger().size(), 2u);
  EXPECT_EQ(reopened->accountant().ledger()[0].q, 0.01);
  EXPECT_EQ(reopened->accountant().ledger()[1].steps, 50);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(RecordPrivacyBudgetTest, RefusesADamagedLedger) {
  const std::string path = TempPath("ledger.json");
  std::ofstream(path) << "{\"format\": \"fedlearn-record-dp-ledger\", ";
  EXPECT_TRUE(
      absl::IsDataLoss(RecordPrivacyBudget::Open(1e-5, 10, path).status()));
  std::ofstream(path) << R"({"format": "fedlearn-record-dp-ledger",
      "version": 1, "trainings": 1,
      "ledger": [{"q": 2.0, "noise_multiplier": 1.0, "steps": 3}]})";
  EXPECT_TRUE(
      absl::IsDataLoss(RecordPrivacyBudget::Open(1e-5, 10, path).status()));
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(RecordPrivacyBudgetTest, AFailedLedgerWriteRecordsNothing) {
  const std::string path = TempPath("missing-dir/ledger.json");
  auto budget = *RecordPrivacyBudget::Open(1e-5, 10, path);
  EXPECT_FALSE(budget->Spend(0.01, 1.1, 300).ok());
  EXPECT_EQ(budget->trainings(), 0);
  EXPECT_EQ(budget->epsilon(), 0.0);
  std::filesystem::remove_all(
      std::filesystem::path(path).parent_path().parent_path());
}

TEST(RecordPrivacyBudgetTest, ValidatesSettings) {
  RecordDpSettings s;
  s.noise_multiplier = 1.1;
  s.clip_norm = 1.0;
  s.epsilon_budget = 3;
  EXPECT_TRUE(ValidateRecordDpSettings(s).ok());
  s.epsilon_budget = 0;
  EXPECT_NE(
      ValidateRecordDpSettings(s).message().find("--record-epsilon-budget"),
      std::string::npos);
  s.epsilon_budget = 3;
  s.delta = 1;
  EXPECT_FALSE(ValidateRecordDpSettings(s).ok());
  s.delta = 1e-5;
  s.clip_norm = 0;
  EXPECT_FALSE(ValidateRecordDpSettings(s).ok());
}

// A LocalTrainer that records its calls (the DP-SGD itself is tested in
// dp_sgd_test).
class FakeTrainer : public LocalTrainer {
 public:
  const ModelSpec& Spec() const override { return spec_; }
  uint64_t NumExamples() const override { return 2500; }
  absl::StatusOr<TrainingResult> Train(const FlatVector&, const TrainingConfig&,
                                       const std::atomic<bool>&) override {
    ++calls;
    if (fail) return absl::InternalError("training diverged");
    TrainingResult r;
    r.delta = FlatVector(3);
    r.num_examples = 2500;
    r.train_loss = 0.42;
    return r;
  }
  int calls = 0;
  bool fail = false;

 private:
  ModelSpec spec_;
};

TEST(RecordDpTrainerTest, SpendsReportsAndSendsNoLoss) {
  auto budget = *RecordPrivacyBudget::Open(1e-5, 7.33, "");
  auto inner = std::make_unique<FakeTrainer>();
  FakeTrainer* fake = inner.get();
  double reported = -1;
  RecordDpTrainer trainer(std::move(inner), 1.5, budget.get(),
                          [&](double eps) { reported = eps; });
  TrainingConfig config;
  config.batch_size = 100;
  config.local_epochs = 90;  // q 0.04, 2250 steps, as Opacus's test
  absl::StatusOr<TrainingResult> r =
      trainer.Train(FlatVector(3), config, kNoCancel);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->train_loss, 0.0);
  EXPECT_EQ(r->num_examples, 2500u);
  EXPECT_NEAR(reported, 7.32911117143, 5e-8);
  EXPECT_EQ(budget->trainings(), 1);

  // The next task would exceed the budget: refused before training.
  absl::StatusOr<TrainingResult> refused =
      trainer.Train(FlatVector(3), config, kNoCancel);
  EXPECT_TRUE(IsRecordBudgetRefusal(refused.status()));
  EXPECT_EQ(fake->calls, 1);
  EXPECT_EQ(budget->trainings(), 1);
}

TEST(RecordDpTrainerTest, AFailedTrainingSpendsNothing) {
  auto budget = *RecordPrivacyBudget::Open(1e-5, 100, "");
  auto inner = std::make_unique<FakeTrainer>();
  inner->fail = true;
  RecordDpTrainer trainer(std::move(inner), 1.5, budget.get());
  TrainingConfig config;
  EXPECT_FALSE(trainer.Train(FlatVector(3), config, kNoCancel).ok());
  EXPECT_EQ(budget->trainings(), 0);
  config.qffl_lipschitz = 1.0;  // q-FFL is refused outright
  EXPECT_TRUE(absl::IsFailedPrecondition(
      trainer.Train(FlatVector(3), config, kNoCancel).status()));
}

}  // namespace
}  // namespace fedlearn
