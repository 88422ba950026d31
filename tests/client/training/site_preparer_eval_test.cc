// SitePreparer with federated evaluation: the held-out split of the site's
// data (or its own evaluation file) reaches the evaluator, never the
// trainer, and the contract's group column reaches the report.
#include <atomic>
#include <fstream>
#include <memory>
#include <string>

#include "client/site_preparer.h"
#include "client/training/torch_trainer.h"
#include "common/models/model_factory.h"
#include "common/wire/run_contract.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;

ModelSource Logreg(int dim) {
  ModelSource source;
  source.architecture = "logreg";
  source.input_shape = {dim};
  source.num_classes = 2;
  return source;
}

v1::RunContract Contract(const ModelSource& source, bool evaluation) {
  absl::StatusOr<FlatModel> initial = CreateInitialModel(source, 1);
  EXPECT_TRUE(initial.ok()) << initial.status();
  v1::RunContract contract;
  contract.set_run_id("eval");
  *contract.mutable_model() = ToModelDefinition(source, initial->spec);
  if (evaluation) {
    v1::EvaluationSpec* spec = contract.mutable_evaluation();
    spec->set_holdout_fraction(0.2);
    spec->set_split_seed(5);
    spec->set_score_bins(10);
    spec->set_accuracy_bins(10);
    spec->set_loss_bins(10);
    spec->set_max_loss(20);
    spec->set_accuracy_threshold(0.5);
  }
  return contract;
}

Dataset Points(int n) {
  Dataset data;
  data.sample_shape = {2};
  data.num_classes = 2;
  for (int i = 0; i < n; ++i) {
    data.features.push_back(static_cast<float>(i % 7));
    data.features.push_back(static_cast<float>(i % 5));
    data.labels.push_back(i % 4 == 0 ? 1 : 0);  // 25 / 75
  }
  return data;
}

class SitePreparerEvalTest : public ::testing::Test {
 protected:
  void SetUp() override { SetTorchThreads(1); }
  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  testing_util::ScopedTempDir dir_;
  std::atomic<bool> no_cancel_{false};
};

TEST_F(SitePreparerEvalTest, HoldsOutAStratifiedSplitAndTrainsOnTheRest) {
  SitePreparer site(SitePreparerOptions(), Points(100));
  absl::StatusOr<LocalTrainer*> trainer =
      site.Prepare(Contract(Logreg(2), true));
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  // 25 positives -> 5 held out; 75 negatives -> 15.
  EXPECT_EQ((*trainer)->NumExamples(), 80u);  // the FedAvg weight
  ASSERT_NE(site.Evaluator(), nullptr);
  EXPECT_EQ(site.Evaluator()->NumExamples(), 20u);
}

TEST_F(SitePreparerEvalTest, WithoutEvaluationEverythingTrains) {
  SitePreparer site(SitePreparerOptions(), Points(100));
  absl::StatusOr<LocalTrainer*> trainer =
      site.Prepare(Contract(Logreg(2), false));
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_EQ((*trainer)->NumExamples(), 100u);
  EXPECT_EQ(site.Evaluator(), nullptr);
}

TEST_F(SitePreparerEvalTest, OwnEvaluationFileWithGroupsTrainsOnAllTheData) {
  TableSchema schema;
  schema.label_column = "y";
  schema.classes = {"no", "yes"};
  schema.features = {{"x", FeatureColumn::Type::kNumeric, {}}};
  std::string train = "x,sex,y\n";
  for (int i = 0; i < 30; ++i) {
    train += std::to_string(i) + (i % 2 ? ",f," : ",m,") +
             (i % 3 ? "no\n" : "yes\n");
  }
  const std::string eval =
      "x,sex,y\n1,f,no\n2,m,yes\n3,f,yes\n4,?,no\n5,m,no\n";
  SitePreparerOptions options;
  options.data.kind = "csv";
  options.data.path = WriteFile("train.csv", train);
  options.eval_data = options.data;
  options.eval_data.path = WriteFile("eval.csv", eval);
  v1::RunContract contract = Contract(Logreg(1), true);
  *contract.mutable_data() = ToProto(schema);
  contract.mutable_evaluation()->set_group_column("sex");
  contract.mutable_evaluation()->add_groups("f");
  contract.mutable_evaluation()->add_groups("m");
  SitePreparer site(options);
  absl::StatusOr<LocalTrainer*> trainer = site.Prepare(contract);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_EQ((*trainer)->NumExamples(), 30u);
  ASSERT_NE(site.Evaluator(), nullptr);
  EXPECT_EQ(site.Evaluator()->NumExamples(), 5u);

  absl::StatusOr<EvalLayout> layout = EvalLayout::FromContract(contract);
  ASSERT_TRUE(layout.ok()) << layout.status();
  absl::StatusOr<FlatModel> model = CreateInitialModel(Logreg(1), 3);
  ASSERT_TRUE(model.ok());
  absl::StatusOr<SiteEvalReport> report =
      site.Evaluator()->Evaluate(model->values, *layout, 1000, no_cancel_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->examples, 5u);
  EXPECT_THAT(report->group_examples, ElementsAre(2, 2));  // '?' has none
  EXPECT_EQ(report->true_positives + report->false_negatives, 2u);
}

}  // namespace
}  // namespace fedlearn
