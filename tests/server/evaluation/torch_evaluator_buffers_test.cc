// The coordinator's evaluator and BatchNorm running statistics: a model
// trained with BatchNorm, saved to a model file and evaluated from it scores
// exactly what the trained module scores in eval mode. Includes LibTorch to
// train and score the module directly.
#include <stdlib.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/training/torch_trainer.h"
#include "common/models/scripted_model_builder.h"
#include "common/models/torch_model.h"
#include "common/wire/model_file.h"
#include "gtest/gtest.h"
#include "server/evaluation/torch_evaluator.h"

namespace fedlearn {
namespace {

constexpr int kDim = 8;

// Two Gaussian classes in dimension kDim, centred at +-2 along a fixed
// direction, then stretched by 3 and moved by 5: BatchNorm's running
// statistics end far from their initial mean 0 and variance 1, so dropping
// them changes every eval-mode output.
Dataset ShiftedBlobs(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Dataset data;
  data.sample_shape = {kDim};
  data.num_classes = 2;
  for (int i = 0; i < n; ++i) {
    const int label = i % 2;
    for (int d = 0; d < kDim; ++d) {
      const float centre = d < 2 ? (label == 1 ? 2.0f : -2.0f) : 0.0f;
      data.features.push_back(3.0f * (centre + normal(rng)) + 5.0f);
    }
    data.labels.push_back(label);
  }
  return data;
}

struct Metrics {
  double accuracy;
  double loss;
};

class TorchEvaluatorBufferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetTorchThreads(1);
    std::string pattern = (std::filesystem::temp_directory_path() /
                           "torch_evaluator_buffers_test.XXXXXX")
                              .string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ModelSource ScriptedBn(BufferPolicy policy) {
    ModelSource source;
    source.architecture = "torchscript";
    source.torchscript_path = dir_ + "/bn.pt";
    source.input_shape = {kDim};
    source.num_classes = 2;
    source.buffers = policy;
    EXPECT_TRUE(
        SaveScriptedBatchNormClassifier(source.torchscript_path, kDim, 6, 2, 3)
            .ok());
    return source;
  }

  static ModelSource MlpBn(BufferPolicy policy) {
    ModelSource source;
    source.architecture = "mlp-bn";
    source.input_shape = {kDim};
    source.num_classes = 2;
    source.hidden_units = 6;
    source.buffers = policy;
    return source;
  }

  // Three epochs of SGD in training mode, which also moves the running
  // statistics.
  static void Train(TorchModel& model) {
    absl::StatusOr<LabeledTensors> data =
        PrepareDataset(ShiftedBlobs(256, 1), model);
    ASSERT_TRUE(data.ok()) << data.status();
    torch::optim::SGD sgd(model.Parameters(), torch::optim::SGDOptions(0.05));
    model.SetTraining(true);
    for (int epoch = 0; epoch < 3; ++epoch) {
      for (int64_t begin = 0; begin < 256; begin += 32) {
        sgd.zero_grad();
        torch::nn::functional::cross_entropy(
            model.Forward(data->features.slice(0, begin, begin + 32)),
            data->labels.slice(0, begin, begin + 32))
            .backward();
        sgd.step();
      }
    }
  }

  // What the trained module itself scores on the test set in eval mode.
  static Metrics ScoreInEvalMode(TorchModel& model) {
    absl::StatusOr<LabeledTensors> test =
        PrepareDataset(ShiftedBlobs(200, 2), model);
    EXPECT_TRUE(test.ok()) << test.status();
    torch::NoGradGuard no_grad;
    model.SetTraining(false);
    const torch::Tensor logits = model.Forward(test->features);
    return {logits.argmax(1)
                .eq(test->labels)
                .to(torch::kFloat64)
                .mean()
                .item<double>(),
            torch::nn::functional::cross_entropy(logits, test->labels)
                .item<double>()};
  }

  std::string dir_;
};

TEST_F(TorchEvaluatorBufferTest,
       SavedBatchNormModelEvaluatesLikeTheTrainedModule) {
  for (const ModelSource& source : {ScriptedBn(BufferPolicy::kFederated),
                                    MlpBn(BufferPolicy::kFederated)}) {
    absl::StatusOr<std::unique_ptr<TorchModel>> model =
        TorchModel::Create(source, 1);
    ASSERT_TRUE(model.ok()) << model.status();
    Train(**model);
    const Metrics trained = ScoreInEvalMode(**model);
    ASSERT_GT(trained.accuracy, 0.8) << source.architecture;

    // Save and reload: the spec keeps the buffers and their kind.
    const std::string path = dir_ + "/global.fmodel";
    v1::RoundRef ref;
    ref.set_run_id("bn");
    ref.set_round(1);
    ref.set_model_version(1);
    ASSERT_TRUE(WriteModelFile(path, ref,
                               FlatModel{(*model)->Spec(), (*model)->ToFlat()})
                    .ok());
    absl::StatusOr<SavedModel> saved = ReadModelFile(path);
    ASSERT_TRUE(saved.ok()) << saved.status();
    EXPECT_TRUE(saved->model.spec.CompatibleWith((*model)->Spec()));
    ASSERT_EQ(saved->model.spec.tensors.back().name, "bn1.running_var");
    EXPECT_EQ(saved->model.spec.tensors.back().kind, TensorKind::kBuffer);

    absl::StatusOr<std::unique_ptr<TorchEvaluator>> evaluator =
        TorchEvaluator::Create(source, ShiftedBlobs(200, 2));
    ASSERT_TRUE(evaluator.ok()) << evaluator.status();
    absl::StatusOr<EvalMetrics> metrics =
        (*evaluator)->Evaluate(saved->model.values);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    EXPECT_DOUBLE_EQ(metrics->accuracy, trained.accuracy)
        << source.architecture;
    EXPECT_NEAR(metrics->loss, trained.loss, 1e-5) << source.architecture;
  }
}

// The contrast that gives the test above its power: without the running
// statistics (kLocal, or the vector before buffers were federated) the
// evaluator normalises with the initial ones and scores something else.
TEST_F(TorchEvaluatorBufferTest,
       WithoutRunningStatisticsTheEvaluatorScoresSomethingElse) {
  const ModelSource source = ScriptedBn(BufferPolicy::kLocal);
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(source, 1);
  ASSERT_TRUE(model.ok()) << model.status();
  Train(**model);
  const Metrics trained = ScoreInEvalMode(**model);

  absl::StatusOr<std::unique_ptr<TorchEvaluator>> evaluator =
      TorchEvaluator::Create(source, ShiftedBlobs(200, 2));
  ASSERT_TRUE(evaluator.ok()) << evaluator.status();
  ASSERT_EQ((*evaluator)->Spec().NumElements(), (*model)->Spec().NumElements());
  absl::StatusOr<EvalMetrics> metrics =
      (*evaluator)->Evaluate((*model)->ToFlat());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_GT(std::abs(metrics->loss - trained.loss), 0.1);
}

}  // namespace
}  // namespace fedlearn
