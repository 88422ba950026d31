// FedProx in TorchTrainer (Li et al. 2020): mu = 0 is bit for bit the FedAvg
// training loop (re-implemented here from LibTorch calls, independently of
// the trainer), and with mu > 0 two steps of plain SGD on a tiny linear
// model match a hand computation of the proximal gradient.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "client/training/torch_trainer.h"
#include "common/models/torch_model.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

const std::atomic<bool> kNoCancel{false};

ModelSource Logreg(int64_t inputs, int32_t classes) {
  ModelSource source;
  source.architecture = "logreg";
  source.input_shape = {inputs};
  source.num_classes = classes;
  return source;
}

Dataset Gaussian(int n, int dim, int classes, uint32_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor x = torch::randn({n, dim});
  Dataset data;
  data.sample_shape = {dim};
  data.num_classes = classes;
  data.features.assign(x.data_ptr<float>(), x.data_ptr<float>() + n * dim);
  for (int i = 0; i < n; ++i) data.labels.push_back(i % classes);
  return data;
}

// TorchTrainer::Train's loop before FedProx existed (SGD with momentum and
// weight decay, seeded shuffles, a lone last sample merged): the delta.
std::vector<float> FedAvgReference(const ModelSource& source, Dataset data,
                                   const FlatVector& global,
                                   const TrainingConfig& config) {
  std::unique_ptr<TorchModel> model = *TorchModel::Create(source, 0);
  LabeledTensors tensors = *PrepareDataset(std::move(data), *model);
  EXPECT_TRUE(model->LoadFlat(global).ok());
  model->SetTraining(true);
  torch::optim::SGD sgd(model->Parameters(),
                        torch::optim::SGDOptions(config.learning_rate)
                            .momentum(config.momentum)
                            .weight_decay(config.weight_decay));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(config.seed);
  const int64_t n = tensors.labels.size(0);
  for (int epoch = 0; epoch < config.local_epochs; ++epoch) {
    const torch::Tensor order = torch::randperm(n, gen);
    for (int64_t begin = 0, end = 0; begin < n; begin = end) {
      end = std::min(begin + config.batch_size, n);
      if (n - end == 1) end = n;
      const torch::Tensor idx = order.slice(0, begin, end);
      sgd.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(
          model->Forward(tensors.features.index_select(0, idx)),
          tensors.labels.index_select(0, idx));
      loss.backward();
      sgd.step();
    }
  }
  FlatVector trained = model->ToFlat();
  std::vector<float> delta(trained.size());
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = trained[i] - global[i];
  return delta;
}

TEST(FedProxTest, MuZeroIsBitIdenticalToFedAvgTraining) {
  SetTorchThreads(1);
  const ModelSource source = Logreg(6, 3);
  TrainingConfig config;
  config.learning_rate = 0.1;
  config.momentum = 0.9;
  config.weight_decay = 1e-3;
  config.local_epochs = 3;
  config.batch_size = 8;
  config.seed = 5;
  config.proximal_mu = 0.0;
  absl::StatusOr<std::unique_ptr<TorchTrainer>> trainer =
      TorchTrainer::Create(source, Gaussian(45, 6, 3, 1));
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  FlatVector global((*trainer)->Spec().NumElements());
  for (size_t i = 0; i < global.size(); ++i) global[i] = 0.01f * (i % 7);

  const std::vector<float> expected =
      FedAvgReference(source, Gaussian(45, 6, 3, 1), global, config);
  absl::StatusOr<TrainingResult> mu0 =
      (*trainer)->Train(global, config, kNoCancel);
  ASSERT_TRUE(mu0.ok()) << mu0.status();
  ASSERT_EQ(mu0->delta.size(), expected.size());
  EXPECT_EQ(std::memcmp(mu0->delta.data(), expected.data(),
                        expected.size() * sizeof(float)),
            0);

  // The reference is sensitive enough to see a proximal term at all.
  config.proximal_mu = 0.5;
  absl::StatusOr<TrainingResult> prox =
      (*trainer)->Train(global, config, kNoCancel);
  ASSERT_TRUE(prox.ok());
  EXPECT_NE(std::memcmp(prox->delta.data(), expected.data(),
                        expected.size() * sizeof(float)),
            0);
}

// Softmax cross-entropy gradient of a linear model (W [2x2] row-major, then
// b [2]) at `w`, mean over the samples, in double.
std::vector<double> Gradient(const std::vector<double>& w,
                             const std::vector<std::vector<double>>& x,
                             const std::vector<int>& y) {
  std::vector<double> g(6, 0.0);
  for (size_t s = 0; s < x.size(); ++s) {
    double z[2];
    for (int k = 0; k < 2; ++k) {
      z[k] = w[2 * k] * x[s][0] + w[2 * k + 1] * x[s][1] + w[4 + k];
    }
    const double m = std::max(z[0], z[1]);
    const double e0 = std::exp(z[0] - m), e1 = std::exp(z[1] - m);
    const double p[2] = {e0 / (e0 + e1), e1 / (e0 + e1)};
    for (int k = 0; k < 2; ++k) {
      const double r = (p[k] - (y[s] == k ? 1.0 : 0.0)) / x.size();
      g[2 * k] += r * x[s][0];
      g[2 * k + 1] += r * x[s][1];
      g[4 + k] += r;
    }
  }
  return g;
}

TEST(FedProxTest, TwoSgdStepsOnALinearModelMatchTheHandComputedProxStep) {
  SetTorchThreads(1);
  Dataset data;
  data.sample_shape = {2};
  data.num_classes = 2;
  data.features = {1, 0, 0, 2};  // x1 = (1, 0) class 0, x2 = (0, 2) class 1
  data.labels = {0, 1};
  absl::StatusOr<std::unique_ptr<TorchTrainer>> trainer =
      TorchTrainer::Create(Logreg(2, 2), std::move(data));
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_EQ((*trainer)->Spec().NumElements(), 6);

  TrainingConfig config;
  config.learning_rate = 0.5;
  config.momentum = 0.0;
  config.weight_decay = 0.0;
  config.local_epochs = 2;  // one full batch per epoch: two steps
  config.batch_size = 2;
  config.proximal_mu = 0.1;
  const FlatVector global(6);  // w_global = 0
  absl::StatusOr<TrainingResult> result =
      (*trainer)->Train(global, config, kNoCancel);
  ASSERT_TRUE(result.ok()) << result.status();

  // w1 = w0 - lr g(w0) (the term is 0 at w_global);
  // w2 = w1 - lr (g(w1) + mu (w1 - w0)).
  const std::vector<std::vector<double>> x = {{1, 0}, {0, 2}};
  const std::vector<int> y = {0, 1};
  const double lr = 0.5, mu = 0.1;
  std::vector<double> w1(6), w2(6);
  const std::vector<double> g0 = Gradient(std::vector<double>(6, 0.0), x, y);
  for (int i = 0; i < 6; ++i) w1[i] = -lr * g0[i];
  const std::vector<double> g1 = Gradient(w1, x, y);
  for (int i = 0; i < 6; ++i) w2[i] = w1[i] - lr * (g1[i] + mu * w1[i]);
  // At w0 = 0: g0 = [[-0.25, 0.5], [0.25, -0.5]], b: [0, 0].
  EXPECT_DOUBLE_EQ(g0[0], -0.25);
  EXPECT_DOUBLE_EQ(g0[3], -0.5);
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(result->delta[i], w2[i], 1e-6) << i;
  }
  // Without the term the second step differs by lr * mu * w1.
  config.proximal_mu = 0.0;
  absl::StatusOr<TrainingResult> plain =
      (*trainer)->Train(global, config, kNoCancel);
  ASSERT_TRUE(plain.ok());
  EXPECT_NEAR(plain->delta[3] - result->delta[3], lr * mu * w1[3], 1e-6);
}

TEST(FedProxTest, ANegativeOrNonFiniteMuIsRefused) {
  absl::StatusOr<std::unique_ptr<TorchTrainer>> trainer =
      TorchTrainer::Create(Logreg(6, 3), Gaussian(9, 6, 3, 2));
  ASSERT_TRUE(trainer.ok());
  const FlatVector global((*trainer)->Spec().NumElements());
  for (double mu : {-1.0, std::nan("")}) {
    TrainingConfig config;
    config.proximal_mu = mu;
    EXPECT_TRUE(absl::IsInvalidArgument(
        (*trainer)->Train(global, config, kNoCancel).status()))
        << mu;
  }
}

}  // namespace
}  // namespace fedlearn
