// q-FFL's F_k in TorchTrainer: with qffl_lipschitz > 0, Train() reports the
// global model's mean cross-entropy over the whole training set (eval mode,
// before any step), computed here independently in one unbatched LibTorch
// call; training itself is bit for bit unchanged, and without q-FFL no loss
// is reported.
#include <torch/nn/functional/loss.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "client/training/torch_trainer.h"
#include "common/models/torch_model.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

const std::atomic<bool> kNoCancel{false};

ModelSource Logreg() {
  ModelSource source;
  source.architecture = "logreg";
  source.input_shape = {6};
  source.num_classes = 3;
  return source;
}

Dataset Gaussian(int n) {
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({n, 6});
  Dataset data;
  data.sample_shape = {6};
  data.num_classes = 3;
  data.features.assign(x.data_ptr<float>(), x.data_ptr<float>() + n * 6);
  for (int i = 0; i < n; ++i) data.labels.push_back(i % 3);
  return data;
}

TEST(QfflGlobalLossTest, ReportsTheGlobalModelsLossAndLeavesTrainingAlone) {
  SetTorchThreads(1);
  std::unique_ptr<TorchModel> reference = *TorchModel::Create(Logreg(), 7);
  const FlatVector global = reference->ToFlat();
  LabeledTensors tensors = *PrepareDataset(Gaussian(53), *reference);
  reference->SetTraining(false);
  const double expected =
      torch::nn::functional::cross_entropy(reference->Forward(tensors.features),
                                           tensors.labels)
          .item<double>();

  TrainingConfig config;
  config.learning_rate = 0.5;  // large steps: the trained loss differs
  config.local_epochs = 2;
  config.batch_size = 8;  // 53 = 6 batches of 8 + 5: a partial last batch
  config.seed = 3;
  std::unique_ptr<TorchTrainer> plain =
      *TorchTrainer::Create(Logreg(), Gaussian(53));
  absl::StatusOr<TrainingResult> off = plain->Train(global, config, kNoCancel);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->global_loss.has_value());

  config.qffl_q = 1.0;
  config.qffl_lipschitz = 2.0;
  std::unique_ptr<TorchTrainer> qffl =
      *TorchTrainer::Create(Logreg(), Gaussian(53));
  absl::StatusOr<TrainingResult> on = qffl->Train(global, config, kNoCancel);
  ASSERT_TRUE(on.ok()) << on.status();
  ASSERT_TRUE(on->global_loss.has_value());
  EXPECT_NEAR(*on->global_loss, expected, 1e-6 * expected);
  // The training loss after the steps is another number.
  EXPECT_GT(std::abs(on->train_loss - expected), 1e-3);
  ASSERT_EQ(on->delta.size(), off->delta.size());
  EXPECT_EQ(std::memcmp(on->delta.data(), off->delta.data(),
                        off->delta.size() * sizeof(float)),
            0)
      << "computing F_k changed training";
  EXPECT_EQ(on->train_loss, off->train_loss);
}

}  // namespace
}  // namespace fedlearn
