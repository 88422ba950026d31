// Torch-free on purpose: the evaluator is exercised through its header only.
#include "client/training/torch_site_evaluator.h"

#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "client/training/torch_trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ModelSource Logreg(int dim, int classes) {
  ModelSource source;
  source.architecture = "logreg";
  source.input_shape = {dim};
  source.num_classes = classes;
  return source;
}

EvalLayout BinaryLayout(int groups) {
  EvalLayout layout;
  layout.num_classes = 2;
  layout.score_bins = 10;
  layout.accuracy_bins = 10;
  layout.loss_bins = 10;
  layout.num_groups = groups;
  layout.max_loss = 20;
  layout.accuracy_threshold = 0.5;
  return layout;
}

// Six points of a 2-feature, 2-class logistic regression with known weights.
Dataset SixPoints() {
  Dataset data;
  data.sample_shape = {2};
  data.num_classes = 2;
  data.features = {0.5, 1.0, -1.0, 0.3,  2.0, -0.5,
                   0.0, 0.0, -0.7, -1.2, 1.5, 2.5};
  data.labels = {1, 0, 0, 1, 0, 1};
  data.groups = {0, 1, -1, 0, 1, 1};
  return data;
}

// linear.weight [[1, -1], [0.5, 2]] (row per class), then linear.bias.
FlatVector KnownWeights() {
  FlatVector w(6);
  const float values[] = {1.0f, -1.0f, 0.5f, 2.0f, 0.1f, -0.2f};
  for (size_t i = 0; i < 6; ++i) w[i] = values[i];
  return w;
}

class TorchSiteEvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override { SetTorchThreads(1); }
  std::atomic<bool> no_cancel_{false};
};

// (label, prediction, P(1), cross-entropy) per point, by hand in double
// precision (/usr/bin/python3, no LibTorch):
//   import math
//   X = [[0.5, 1.0], [-1.0, 0.3], [2.0, -0.5], [0.0, 0.0], [-0.7, -1.2],
//        [1.5, 2.5]]
//   y = [1, 0, 0, 1, 0, 1]
//   W = [[1.0, -1.0], [0.5, 2.0]]; b = [0.1, -0.2]
//   for x, l in zip(X, y):
//       z = [sum(w * v for w, v in zip(W[c], x)) + b[c] for c in range(2)]
//       m = max(z); lse = m + math.log(sum(math.exp(v - m) for v in z))
//       p1 = math.exp(z[1] - lse); loss = lse - z[l]; pred = int(p1 >= 0.5)
//       print(l, pred, p1, loss)
//   # correct 4, loss sum 2.41339401 -> 2413 units of 1e-3
struct Expected {
  int label, predicted;
  double p1, loss;
};
constexpr Expected kByHand[] = {
    {1, 1, 0.920561451, 0.082771522}, {0, 1, 0.750260106, 1.387335325},
    {0, 0, 0.057324176, 0.059032826}, {1, 0, 0.425557483, 0.854355244},
    {0, 0, 0.027922574, 0.028319821}, {1, 1, 0.998421972, 0.001579274},
};

TEST_F(TorchSiteEvaluatorTest, LogregReportMatchesAHandComputation) {
  absl::StatusOr<std::unique_ptr<TorchSiteEvaluator>> evaluator =
      TorchSiteEvaluator::Create(Logreg(2, 2), SixPoints(), /*batch_size=*/4);
  ASSERT_TRUE(evaluator.ok()) << evaluator.status();
  EXPECT_EQ((*evaluator)->NumExamples(), 6u);
  const EvalLayout layout = BinaryLayout(2);
  absl::StatusOr<SiteEvalReport> report =
      (*evaluator)->Evaluate(KnownWeights(), layout, 1000, no_cancel_);
  ASSERT_TRUE(report.ok()) << report.status();

  EXPECT_EQ(report->examples, 6u);
  EXPECT_EQ(report->correct, 4u);
  EXPECT_EQ(report->loss_units, 2413u);
  EXPECT_EQ(report->true_positives, 2u);
  EXPECT_EQ(report->false_positives, 1u);
  EXPECT_EQ(report->true_negatives, 2u);
  EXPECT_EQ(report->false_negatives, 1u);
  EXPECT_THAT(report->group_examples, ElementsAre(2, 3));
  EXPECT_THAT(report->group_correct, ElementsAre(1, 2));
  EXPECT_EQ(report->sites, 1u);

  // Every other field as the builder makes it from the hand-computed values.
  const int groups[] = {0, 1, -1, 0, 1, 1};
  SiteEvalBuilder builder(layout);
  for (int i = 0; i < 6; ++i) {
    const Expected& e = kByHand[i];
    ASSERT_TRUE(
        builder.Add(e.label, e.predicted, e.p1, e.loss, groups[i]).ok());
  }
  EXPECT_EQ(report->ToVector(layout), builder.Finish().ToVector(layout));
}

TEST_F(TorchSiteEvaluatorTest, EvaluatesOnlyTheFirstMaxExamples) {
  absl::StatusOr<std::unique_ptr<TorchSiteEvaluator>> evaluator =
      TorchSiteEvaluator::Create(Logreg(2, 2), SixPoints());
  ASSERT_TRUE(evaluator.ok()) << evaluator.status();
  const EvalLayout layout = BinaryLayout(0);  // groups ignored
  absl::StatusOr<SiteEvalReport> report =
      (*evaluator)->Evaluate(KnownWeights(), layout, 3, no_cancel_);
  ASSERT_TRUE(report.ok()) << report.status();
  SiteEvalBuilder builder(layout);
  for (int i = 0; i < 3; ++i) {
    const Expected& e = kByHand[i];
    ASSERT_TRUE(builder.Add(e.label, e.predicted, e.p1, e.loss).ok());
  }
  EXPECT_EQ(report->examples, 3u);
  EXPECT_EQ(report->ToVector(layout), builder.Finish().ToVector(layout));
}

// In training mode BatchNorm would normalise with each batch's statistics
// (and refuse a batch of one); in eval mode the report cannot depend on the
// batch size, and evaluating leaves the running statistics alone.
TEST_F(TorchSiteEvaluatorTest, UsesEvalModeWhateverTheBatchSize) {
  ModelSource source = Logreg(4, 3);
  source.architecture = "mlp-bn";
  source.hidden_units = 8;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  Dataset data;
  data.sample_shape = {4};
  data.num_classes = 3;
  for (int i = 0; i < 40; ++i) {
    for (int d = 0; d < 4; ++d) data.features.push_back(normal(rng));
    data.labels.push_back(i % 3);
  }
  absl::StatusOr<std::unique_ptr<TorchSiteEvaluator>> one =
      TorchSiteEvaluator::Create(source, data, /*batch_size=*/1);
  absl::StatusOr<std::unique_ptr<TorchSiteEvaluator>> all =
      TorchSiteEvaluator::Create(source, data, /*batch_size=*/64);
  ASSERT_TRUE(one.ok() && all.ok());
  absl::StatusOr<std::unique_ptr<TorchTrainer>> init =
      TorchTrainer::Create(source, data);
  ASSERT_TRUE(init.ok()) << init.status();
  // Some global model: random parameters, buffers not the initial 0 / 1.
  FlatVector global((*init)->Spec().NumElements());
  for (size_t i = 0; i < global.size(); ++i) {
    global[i] = 0.3f * normal(rng) + (i + 8 >= global.size() ? 1.0f : 0.0f);
  }
  EvalLayout layout = BinaryLayout(0);
  layout.num_classes = 3;
  layout.score_bins = 0;
  absl::StatusOr<SiteEvalReport> a =
      (*one)->Evaluate(global, layout, 1000, no_cancel_);
  absl::StatusOr<SiteEvalReport> b =
      (*all)->Evaluate(global, layout, 1000, no_cancel_);
  absl::StatusOr<SiteEvalReport> again =
      (*all)->Evaluate(global, layout, 1000, no_cancel_);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok() && again.ok());
  EXPECT_EQ(a->examples, 40u);
  EXPECT_EQ(a->ToVector(layout), b->ToVector(layout));
  EXPECT_EQ(b->ToVector(layout), again->ToVector(layout));
}

// FedBN (BufferPolicy::kLocal): the site's model is the global parameters
// with its own running statistics, which is exactly the federated-buffer
// model whose vector carries those statistics after the parameters.
TEST_F(TorchSiteEvaluatorTest,
       LocalBufferPolicyMeasuresWithTheSitesStatistics) {
  ModelSource federated = Logreg(4, 3);
  federated.architecture = "mlp-bn";
  federated.hidden_units = 8;
  ModelSource local = federated;
  local.buffers = BufferPolicy::kLocal;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  Dataset data;
  data.sample_shape = {4};
  data.num_classes = 3;
  for (int i = 0; i < 30; ++i) {
    for (int d = 0; d < 4; ++d) data.features.push_back(normal(rng));
    data.labels.push_back(i % 3);
  }
  absl::StatusOr<std::unique_ptr<TorchTrainer>> spec_of =
      TorchTrainer::Create(local, data);
  ASSERT_TRUE(spec_of.ok()) << spec_of.status();
  FlatVector params((*spec_of)->Spec().NumElements());
  for (size_t i = 0; i < params.size(); ++i) params[i] = 0.5f * normal(rng);
  FlatVector buffers(16);  // bn1.running_mean [8], bn1.running_var [8]
  for (size_t i = 0; i < 16; ++i) {
    buffers[i] = i < 8 ? normal(rng) : 0.2f + std::abs(normal(rng));
  }
  FlatVector with_buffers(params.size() + 16);
  for (size_t i = 0; i < params.size(); ++i) with_buffers[i] = params[i];
  for (size_t i = 0; i < 16; ++i) with_buffers[params.size() + i] = buffers[i];

  absl::StatusOr<std::unique_ptr<TorchSiteEvaluator>> site =
      TorchSiteEvaluator::Create(local, data);
  absl::StatusOr<std::unique_ptr<TorchSiteEvaluator>> initial =
      TorchSiteEvaluator::Create(local, data);
  absl::StatusOr<std::unique_ptr<TorchSiteEvaluator>> reference =
      TorchSiteEvaluator::Create(federated, data);
  ASSERT_TRUE(site.ok() && initial.ok() && reference.ok());
  (*site)->UseLocalBuffers([&buffers] { return buffers.Clone(); });
  EvalLayout layout = BinaryLayout(0);
  layout.num_classes = 3;
  layout.score_bins = 0;
  absl::StatusOr<SiteEvalReport> a =
      (*site)->Evaluate(params, layout, 1000, no_cancel_);
  absl::StatusOr<SiteEvalReport> b =
      (*reference)->Evaluate(with_buffers, layout, 1000, no_cancel_);
  absl::StatusOr<SiteEvalReport> c =
      (*initial)->Evaluate(params, layout, 1000, no_cancel_);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(a->ToVector(layout), b->ToVector(layout));
  EXPECT_NE(a->loss_units, c->loss_units);  // the statistics matter
}

TEST_F(TorchSiteEvaluatorTest, RefusesMismatchesAndStopsWhenCancelled) {
  absl::StatusOr<std::unique_ptr<TorchSiteEvaluator>> evaluator =
      TorchSiteEvaluator::Create(Logreg(2, 2), SixPoints());
  ASSERT_TRUE(evaluator.ok()) << evaluator.status();
  EvalLayout three = BinaryLayout(0);
  three.num_classes = 3;
  EXPECT_THAT((*evaluator)
                  ->Evaluate(KnownWeights(), three, 10, no_cancel_)
                  .status()
                  .message(),
              HasSubstr("classes"));
  EXPECT_TRUE(absl::IsInvalidArgument(
      (*evaluator)
          ->Evaluate(KnownWeights(), BinaryLayout(0), 0, no_cancel_)
          .status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      (*evaluator)
          ->Evaluate(FlatVector(5), BinaryLayout(0), 10, no_cancel_)
          .status()));
  std::atomic<bool> cancel{true};
  EXPECT_TRUE(absl::IsCancelled(
      (*evaluator)
          ->Evaluate(KnownWeights(), BinaryLayout(0), 10, cancel)
          .status()));
  Dataset bad = SixPoints();
  bad.groups.pop_back();
  EXPECT_THAT(TorchSiteEvaluator::Create(Logreg(2, 2), bad).status().message(),
              HasSubstr("group"));
}

}  // namespace
}  // namespace fedlearn
