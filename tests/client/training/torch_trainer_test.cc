// Torch-free on purpose: the trainer is exercised through LocalTrainer only.
#include "client/training/torch_trainer.h"

#include <stdlib.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/models/model_factory.h"
#include "common/models/scripted_model_builder.h"
#include "gtest/gtest.h"
#include "server/evaluation/torch_evaluator.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

constexpr int kDim = 8;

class TorchTrainerTest : public ::testing::Test {
 protected:
  void SetUp() override { SetTorchThreads(1); }
};

// 512 points of dimension 8, labelled by the side of a fixed hyperplane and
// pushed 0.5 away from it, so a linear model can reach 100% accuracy.
Dataset Separable(int n = 512) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> w(kDim);
  float norm = 0;
  for (float& v : w) {
    v = normal(rng);
    norm += v * v;
  }
  for (float& v : w) v /= std::sqrt(norm);
  Dataset data;
  data.sample_shape = {kDim};
  data.num_classes = 2;
  for (int i = 0; i < n; ++i) {
    std::vector<float> x(kDim);
    float dot = 0;
    for (int d = 0; d < kDim; ++d) dot += (x[d] = normal(rng)) * w[d];
    const float side = dot > 0 ? 1.0f : -1.0f;
    for (int d = 0; d < kDim; ++d) x[d] += 0.5f * side * w[d];
    data.features.insert(data.features.end(), x.begin(), x.end());
    data.labels.push_back(dot > 0 ? 1 : 0);
  }
  return data;
}

ModelSource Logreg() {
  ModelSource source;
  source.architecture = "logreg";
  source.input_shape = {kDim};
  source.num_classes = 2;
  return source;
}

TrainingConfig Sgd(int epochs = 5) {
  TrainingConfig config;
  config.learning_rate = 0.1;
  config.momentum = 0.9;
  config.local_epochs = epochs;
  config.batch_size = 32;
  config.seed = 11;
  return config;
}

FlatVector Plus(const FlatVector& a, const FlatVector& b) {
  FlatVector out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] + b[i];
  return out;
}

std::vector<float> Values(const FlatVector& v) {
  return std::vector<float>(v.data(), v.data() + v.size());
}

std::unique_ptr<TorchTrainer> TrainerOrDie(const ModelSource& source,
                                           Dataset data = Separable()) {
  auto trainer = TorchTrainer::Create(source, std::move(data));
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  return trainer.ok() ? *std::move(trainer) : nullptr;
}

// Trains `source` from its seed-1 initial model with `config` and checks that
// applying the delta fits the training set.
void ExpectTrainingFitsSeparableData(const ModelSource& source,
                                     const TrainingConfig& config) {
  absl::StatusOr<FlatModel> initial = CreateInitialModel(source, 1);
  ASSERT_TRUE(initial.ok()) << initial.status();
  auto trainer = TrainerOrDie(source);
  auto evaluator = TorchEvaluator::Create(source, Separable());
  ASSERT_TRUE(trainer && evaluator.ok()) << evaluator.status();
  EXPECT_TRUE(trainer->Spec().CompatibleWith(initial->spec));

  const std::atomic<bool> cancel{false};
  absl::StatusOr<TrainingResult> result =
      trainer->Train(initial->values, config, cancel);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->num_examples, 512u);
  EXPECT_EQ(result->delta.size(), initial->values.size());
  EXPECT_GT(result->seconds, 0.0);

  absl::StatusOr<EvalMetrics> before = (*evaluator)->Evaluate(initial->values);
  absl::StatusOr<EvalMetrics> after =
      (*evaluator)->Evaluate(Plus(initial->values, result->delta));
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_LT(after->loss, before->loss);
  EXPECT_LT(result->train_loss, before->loss);
  EXPECT_GT(after->accuracy, 0.9);
}

TEST_F(TorchTrainerTest, SgdDeltaFitsSeparableData) {
  ExpectTrainingFitsSeparableData(Logreg(), Sgd());
}

TEST_F(TorchTrainerTest, AdamDeltaFitsSeparableData) {
  TrainingConfig config = Sgd();
  config.optimizer = TrainingConfig::Optimizer::kAdam;
  config.learning_rate = 0.01;
  ExpectTrainingFitsSeparableData(Logreg(), config);
}

TEST_F(TorchTrainerTest, MlpDeltaFitsSeparableData) {
  ModelSource source = Logreg();
  source.architecture = "mlp";
  source.hidden_units = 16;
  ExpectTrainingFitsSeparableData(source, Sgd());
}

TEST_F(TorchTrainerTest, TorchScriptModelTrains) {
  ModelSource source;
  source.architecture = "torchscript";
  testing_util::ScopedTempDir tmp;
  source.torchscript_path = tmp.File("trainer_linear.pt");
  ASSERT_TRUE(
      SaveScriptedLinearClassifier(source.torchscript_path, kDim, 2, 3).ok());
  ExpectTrainingFitsSeparableData(source, Sgd());
}

// With a zero step the trained model is the global one, so the delta must be
// exactly zero: it is trained - global, not the trained parameters.
TEST_F(TorchTrainerTest, ZeroLearningRateGivesExactlyZeroDelta) {
  absl::StatusOr<FlatModel> initial = CreateInitialModel(Logreg(), 1);
  ASSERT_TRUE(initial.ok());
  auto trainer = TrainerOrDie(Logreg());
  ASSERT_NE(trainer, nullptr);
  TrainingConfig config = Sgd(2);
  config.learning_rate = 0.0;
  const std::atomic<bool> cancel{false};
  absl::StatusOr<TrainingResult> result =
      trainer->Train(initial->values, config, cancel);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Values(result->delta),
            std::vector<float>(initial->values.size(), 0.0f));
}

TEST_F(TorchTrainerTest, SameSeedGivesIdenticalDelta) {
  absl::StatusOr<FlatModel> initial = CreateInitialModel(Logreg(), 1);
  ASSERT_TRUE(initial.ok());
  auto first = TrainerOrDie(Logreg());
  auto second = TrainerOrDie(Logreg());
  ASSERT_TRUE(first && second);
  const std::atomic<bool> cancel{false};
  auto a = first->Train(initial->values, Sgd(2), cancel);
  auto b = second->Train(initial->values, Sgd(2), cancel);
  // The same trainer again: no state leaks from one Train() to the next.
  auto c = first->Train(initial->values, Sgd(2), cancel);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(Values(a->delta), Values(b->delta));
  EXPECT_EQ(Values(a->delta), Values(c->delta));
  EXPECT_EQ(a->train_loss, b->train_loss);
}

TEST_F(TorchTrainerTest, DifferentSeedsShuffleDifferently) {
  absl::StatusOr<FlatModel> initial = CreateInitialModel(Logreg(), 1);
  ASSERT_TRUE(initial.ok());
  auto trainer = TrainerOrDie(Logreg());
  ASSERT_NE(trainer, nullptr);
  TrainingConfig other = Sgd(2);
  other.seed = 12;
  const std::atomic<bool> cancel{false};
  auto a = trainer->Train(initial->values, Sgd(2), cancel);
  auto b = trainer->Train(initial->values, other, cancel);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(Values(a->delta), Values(b->delta));
}

TEST_F(TorchTrainerTest, CancelledTrainingReturnsCancelledNotAPartialDelta) {
  absl::StatusOr<FlatModel> initial = CreateInitialModel(Logreg(), 1);
  ASSERT_TRUE(initial.ok());
  auto trainer = TrainerOrDie(Logreg());
  ASSERT_NE(trainer, nullptr);
  const std::atomic<bool> cancel{true};
  EXPECT_EQ(trainer->Train(initial->values, Sgd(), cancel).status().code(),
            absl::StatusCode::kCancelled);
}

TEST_F(TorchTrainerTest, GlobalOfWrongSizeIsInvalidArgument) {
  auto trainer = TrainerOrDie(Logreg());
  ASSERT_NE(trainer, nullptr);
  const std::atomic<bool> cancel{false};
  EXPECT_EQ(
      trainer->Train(FlatVector(kDim * 2 + 1), Sgd(), cancel).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(TorchTrainerTest, BadConfigIsInvalidArgument) {
  absl::StatusOr<FlatModel> initial = CreateInitialModel(Logreg(), 1);
  ASSERT_TRUE(initial.ok());
  auto trainer = TrainerOrDie(Logreg());
  ASSERT_NE(trainer, nullptr);
  const std::atomic<bool> cancel{false};
  TrainingConfig no_batch = Sgd();
  no_batch.batch_size = 0;
  TrainingConfig nan_rate = Sgd();
  nan_rate.learning_rate = std::nan("");
  for (const TrainingConfig& config : {no_batch, nan_rate}) {
    EXPECT_EQ(trainer->Train(initial->values, config, cancel).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(TorchTrainerTest, DivergingTrainingIsAnErrorNotANonFiniteDelta) {
  absl::StatusOr<FlatModel> initial = CreateInitialModel(Logreg(), 1);
  ASSERT_TRUE(initial.ok());
  auto trainer = TrainerOrDie(Logreg());
  ASSERT_NE(trainer, nullptr);
  TrainingConfig config = Sgd(3);
  config.learning_rate = 1e38;
  const std::atomic<bool> cancel{false};
  absl::StatusOr<TrainingResult> result =
      trainer->Train(initial->values, config, cancel);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(result.status().message().find("diverged"), std::string::npos);
}

TEST_F(TorchTrainerTest, LeNet5TrainsOnImageShapedSamples) {
  ModelSource source;  // lenet5, {1, 28, 28}, 10 classes
  Dataset data;
  data.sample_shape = {1, 28, 28};
  data.num_classes = 10;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> pixel(0, 1);
  for (int i = 0; i < 64; ++i) {
    for (int p = 0; p < 28 * 28; ++p) data.features.push_back(pixel(rng));
    data.labels.push_back(i % 10);
  }
  absl::StatusOr<FlatModel> initial = CreateInitialModel(source, 1);
  ASSERT_TRUE(initial.ok());
  auto trainer = TrainerOrDie(source, std::move(data));
  ASSERT_NE(trainer, nullptr);
  EXPECT_EQ(trainer->NumExamples(), 64u);
  const std::atomic<bool> cancel{false};
  absl::StatusOr<TrainingResult> result =
      trainer->Train(initial->values, Sgd(1), cancel);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->delta.size(), 61706u);
  EXPECT_TRUE(CheckAllFinite(result->delta.span()).ok());
}

TEST_F(TorchTrainerTest, LeNet5RefusesSamplesThatAreNot28x28) {
  Dataset data;
  data.sample_shape = {1, 32, 32};
  data.num_classes = 10;
  data.features.assign(2 * 32 * 32, 0.5f);
  data.labels = {0, 1};
  EXPECT_EQ(
      TorchTrainer::Create(ModelSource(), std::move(data)).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(TorchTrainerTest, DatasetClassCountMustMatchTheModel) {
  ModelSource three_classes = Logreg();
  three_classes.num_classes = 3;
  EXPECT_EQ(TorchTrainer::Create(three_classes, Separable()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TorchTrainerTest, InconsistentDatasetsAreRefused) {
  Dataset empty = Separable(0);
  Dataset short_features = Separable(4);
  short_features.features.pop_back();
  Dataset bad_label = Separable(4);
  bad_label.labels[2] = 2;
  Dataset nan_feature = Separable(4);
  nan_feature.features[5] = std::nanf("");
  for (Dataset* data : {&empty, &short_features, &bad_label, &nan_feature}) {
    EXPECT_EQ(TorchTrainer::Create(Logreg(), std::move(*data)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// ---- Buffers (BatchNorm running statistics) --------------------------------

constexpr int kHidden = 6;
// Running mean and variance of the one BatchNorm1d(kHidden) layer.
constexpr size_t kBufferValues = 2 * kHidden;

ModelSource MlpBn(BufferPolicy policy = BufferPolicy::kFederated) {
  ModelSource source = Logreg();
  source.architecture = "mlp-bn";
  source.hidden_units = kHidden;
  source.buffers = policy;
  return source;
}

// Separable data moved off the origin and stretched, so that BatchNorm's
// running statistics are far from their initial mean 0 and variance 1.
Dataset ShiftedSeparable(int n = 512) {
  Dataset data = Separable(n);
  for (float& x : data.features) x = 3.0f * x + 5.0f;
  return data;
}

std::vector<float> Tail(const FlatVector& v, size_t n) {
  return std::vector<float>(v.data() + v.size() - n, v.data() + v.size());
}

class TorchTrainerBufferTest : public TorchTrainerTest {
 protected:
  void SetUp() override {
    TorchTrainerTest::SetUp();
    std::string pattern =
        (std::filesystem::temp_directory_path() / "torch_trainer_test.XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ModelSource ScriptedBn(BufferPolicy policy = BufferPolicy::kFederated) {
    ModelSource source;
    source.architecture = "torchscript";
    source.torchscript_path = dir_ + "/bn.pt";
    source.buffers = policy;
    EXPECT_TRUE(SaveScriptedBatchNormClassifier(source.torchscript_path, kDim,
                                                kHidden, 2, 3)
                    .ok());
    return source;
  }

  std::string dir_;
};

TEST_F(TorchTrainerBufferTest, MlpBnDeltaFitsSeparableData) {
  ExpectTrainingFitsSeparableData(MlpBn(), Sgd());
}

TEST_F(TorchTrainerBufferTest, TorchScriptBatchNormModelTrains) {
  ExpectTrainingFitsSeparableData(ScriptedBn(), Sgd());
}

// The delta's buffer part is the trained running statistics minus the
// global ones, and it is what FedAvg needs to move the global statistics.
TEST_F(TorchTrainerBufferTest, DeltaCarriesTrainedMinusGlobalBuffers) {
  for (const ModelSource& source : {MlpBn(), ScriptedBn()}) {
    absl::StatusOr<FlatModel> initial = CreateInitialModel(source, 1);
    ASSERT_TRUE(initial.ok()) << initial.status();
    ASSERT_EQ(initial->spec.tensors.back().kind, TensorKind::kBuffer);
    // Start from global statistics that are not the initial ones, to see
    // that Train() loads them: mean 1, variance 2.
    FlatVector global = initial->values.Clone();
    for (size_t i = global.size() - kBufferValues; i < global.size(); ++i) {
      global[i] = i < global.size() - kHidden ? 1.0f : 2.0f;
    }
    auto trainer = TrainerOrDie(source, ShiftedSeparable());
    ASSERT_NE(trainer, nullptr);
    const std::atomic<bool> cancel{false};
    absl::StatusOr<TrainingResult> result =
        trainer->Train(global, Sgd(1), cancel);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->delta.size(), global.size());

    const std::vector<float> trained = Values(trainer->LocalBuffers());
    ASSERT_EQ(trained.size(), kBufferValues);
    const std::vector<float> global_buffers = Tail(global, kBufferValues);
    std::vector<float> expected(kBufferValues);
    for (size_t i = 0; i < kBufferValues; ++i) {
      expected[i] = trained[i] - global_buffers[i];
    }
    EXPECT_EQ(Tail(result->delta, kBufferValues), expected)
        << source.architecture;
    for (float d : expected) EXPECT_NE(d, 0.0f);
  }
}

// A zero step leaves the parameters alone, but training-mode forward passes
// still move the running statistics: only the buffer part of the delta is
// non-zero.
TEST_F(TorchTrainerBufferTest, ZeroLearningRateStillMovesFederatedBuffers) {
  absl::StatusOr<FlatModel> initial = CreateInitialModel(MlpBn(), 1);
  ASSERT_TRUE(initial.ok());
  auto trainer = TrainerOrDie(MlpBn(), ShiftedSeparable());
  ASSERT_NE(trainer, nullptr);
  TrainingConfig config = Sgd(1);
  config.learning_rate = 0.0;
  const std::atomic<bool> cancel{false};
  absl::StatusOr<TrainingResult> result =
      trainer->Train(initial->values, config, cancel);
  ASSERT_TRUE(result.ok()) << result.status();
  const std::vector<float> delta = Values(result->delta);
  EXPECT_EQ(std::vector<float>(delta.begin(), delta.end() - kBufferValues),
            std::vector<float>(delta.size() - kBufferValues, 0.0f));
  for (float d : Tail(result->delta, kBufferValues)) EXPECT_NE(d, 0.0f);
}

TEST_F(TorchTrainerBufferTest, LocalBuffersStayOutOfTheDeltaAndPersist) {
  for (const ModelSource& source :
       {MlpBn(BufferPolicy::kLocal), ScriptedBn(BufferPolicy::kLocal)}) {
    absl::StatusOr<FlatModel> initial = CreateInitialModel(source, 1);
    ASSERT_TRUE(initial.ok());
    for (const TensorSpec& t : initial->spec.tensors) {
      EXPECT_EQ(t.kind, TensorKind::kParameter) << t.name;
    }
    auto trainer = TrainerOrDie(source, ShiftedSeparable());
    auto fresh = TrainerOrDie(source, ShiftedSeparable());
    ASSERT_TRUE(trainer && fresh);
    EXPECT_TRUE(trainer->Spec().CompatibleWith(initial->spec));
    const std::vector<float> start = Values(trainer->LocalBuffers());
    ASSERT_EQ(start.size(), kBufferValues);

    const std::atomic<bool> cancel{false};
    auto first = trainer->Train(initial->values, Sgd(1), cancel);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->delta.size(), initial->values.size());
    const std::vector<float> after_first = Values(trainer->LocalBuffers());
    EXPECT_NE(after_first, start);

    // The same global model and seed again: had loading the global model
    // reset the statistics, they would come out as after the first call.
    auto second = trainer->Train(initial->values, Sgd(1), cancel);
    ASSERT_TRUE(second.ok()) << second.status();
    const std::vector<float> after_second = Values(trainer->LocalBuffers());
    EXPECT_NE(after_second, after_first) << source.architecture;

    // A fresh site's first call reproduces the first call exactly.
    ASSERT_TRUE(fresh->Train(initial->values, Sgd(1), cancel).ok());
    EXPECT_EQ(Values(fresh->LocalBuffers()), after_first);
  }
}

// BatchNorm refuses batch statistics of a single sample: with 33 samples
// and batch_size 32 the lone last sample joins the previous batch.
TEST_F(TorchTrainerBufferTest, LoneLastSampleJoinsThePreviousBatch) {
  absl::StatusOr<FlatModel> initial = CreateInitialModel(MlpBn(), 1);
  ASSERT_TRUE(initial.ok());
  auto trainer = TrainerOrDie(MlpBn(), ShiftedSeparable(33));
  ASSERT_NE(trainer, nullptr);
  const std::atomic<bool> cancel{false};
  absl::StatusOr<TrainingResult> result =
      trainer->Train(initial->values, Sgd(2), cancel);
  EXPECT_TRUE(result.ok()) << result.status();
}

}  // namespace
}  // namespace fedlearn
