// DP-SGD in the client trainer (client/training/dp_sgd*.h): per-example
// gradients equal one backward pass per example (layerwise and microbatch
// methods, logreg / mlp / lenet5), the clipping bound holds for every
// example, BatchNorm is refused, Poisson lots have binomial sizes, the noise
// has the stated standard deviation (fixed seeds: deterministic), and the
// schedule is TF Privacy's step count.
#include "client/training/dp_sgd.h"

#include <torch/autograd.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <vector>

#include "client/training/dp_sgd_parts.h"
#include "client/training/torch_trainer.h"
#include "common/models/torch_model.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

const std::atomic<bool> kNoCancel{false};

ModelSource Zoo(const std::string& arch) {
  ModelSource source;
  source.architecture = arch;
  source.num_classes = 10;
  source.hidden_units = 16;
  source.input_shape = arch == "lenet5" ? std::vector<int64_t>{1, 28, 28}
                                        : std::vector<int64_t>{20};
  return source;
}

torch::Tensor Inputs(const ModelSource& source, int64_t b, double scale) {
  std::vector<int64_t> shape = {b};
  shape.insert(shape.end(), source.input_shape.begin(),
               source.input_shape.end());
  torch::manual_seed(11);
  return torch::randn(shape) * scale;
}

// Reference: one forward and backward pass for example i alone.
std::vector<torch::Tensor> SingleExampleGradients(TorchModel& model,
                                                  const torch::Tensor& x,
                                                  const torch::Tensor& y,
                                                  int64_t i) {
  const torch::Tensor loss = torch::nn::functional::cross_entropy(
      model.Forward(x.slice(0, i, i + 1)), y.slice(0, i, i + 1));
  return torch::autograd::grad({loss}, model.Parameters());
}

double MaxAbsDiffToSingleExample(TorchModel& model, PerExampleGradients& method,
                                 const torch::Tensor& x,
                                 const torch::Tensor& y) {
  torch::Tensor losses;
  const std::vector<torch::Tensor> per_example = method.Compute(x, y, &losses);
  EXPECT_EQ(per_example.size(), model.Parameters().size());
  double worst = 0;
  for (int64_t i = 0; i < x.size(0); ++i) {
    const std::vector<torch::Tensor> ref =
        SingleExampleGradients(model, x, y, i);
    for (size_t p = 0; p < ref.size(); ++p) {
      EXPECT_EQ(per_example[p].sizes().slice(1), ref[p].sizes());
      worst = std::max(worst,
                       (per_example[p][i] - ref[p]).abs().max().item<double>());
    }
  }
  return worst;
}

class PerExampleGradientsTest : public testing::TestWithParam<const char*> {};

TEST_P(PerExampleGradientsTest, LayerwiseEqualsOneBackwardPassPerExample) {
  const ModelSource source = Zoo(GetParam());
  std::unique_ptr<TorchModel> model = *TorchModel::Create(source, 3);
  model->SetTraining(true);
  absl::StatusOr<PerExampleGradients> method =
      PerExampleGradients::Create(*model);
  ASSERT_TRUE(method.ok()) << method.status();
  EXPECT_EQ(method->method(), PerExampleGradients::Method::kLayerwise);
  const torch::Tensor x = Inputs(source, 7, 1.0);
  const torch::Tensor y = torch::arange(7, torch::kInt64) % 10;
  EXPECT_LT(MaxAbsDiffToSingleExample(*model, *method, x, y), 1e-6);
}

TEST_P(PerExampleGradientsTest, MicrobatchEqualsOneBackwardPassPerExample) {
  const ModelSource source = Zoo(GetParam());
  std::unique_ptr<TorchModel> model = *TorchModel::Create(source, 4);
  model->SetTraining(true);
  absl::StatusOr<PerExampleGradients> method =
      PerExampleGradients::Create(*model, /*force_microbatch=*/true);
  ASSERT_TRUE(method.ok()) << method.status();
  EXPECT_EQ(method->method(), PerExampleGradients::Method::kMicrobatch);
  const torch::Tensor x = Inputs(source, 5, 1.0);
  const torch::Tensor y = torch::arange(5, torch::kInt64) % 10;
  EXPECT_LT(MaxAbsDiffToSingleExample(*model, *method, x, y), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Zoo, PerExampleGradientsTest,
                         testing::Values("logreg", "mlp", "lenet5"));

TEST(PerExampleGradientsTest, FrozenParametersGetNoGradient) {
  std::unique_ptr<TorchModel> model = *TorchModel::Create(Zoo("mlp"), 5);
  model->Parameters()[0].requires_grad_(false);  // fc1.weight
  absl::StatusOr<PerExampleGradients> method =
      PerExampleGradients::Create(*model);
  ASSERT_TRUE(method.ok()) << method.status();
  const torch::Tensor x = Inputs(Zoo("mlp"), 3, 1.0);
  const std::vector<torch::Tensor> g =
      method->Compute(x, torch::zeros({3}, torch::kInt64), nullptr);
  EXPECT_FALSE(g[0].defined());
  EXPECT_TRUE(g[1].defined());
  model->Parameters()[0].requires_grad_(true);
}

TEST(PerExampleGradientsTest, RefusesBatchNorm) {
  std::unique_ptr<TorchModel> model = *TorchModel::Create(Zoo("mlp-bn"), 0);
  absl::StatusOr<PerExampleGradients> method =
      PerExampleGradients::Create(*model);
  EXPECT_TRUE(absl::IsFailedPrecondition(method.status()));
  EXPECT_NE(method.status().message().find("BatchNorm"), std::string::npos);
  absl::StatusOr<std::unique_ptr<DpSgd>> dp =
      DpSgd::Create({1.0, 1.0, 1, false}, *model);
  EXPECT_TRUE(absl::IsFailedPrecondition(dp.status()));
}

TEST(ClippingTest, EveryExampleNormIsAtMostTheClipNorm) {
  const ModelSource source = Zoo("lenet5");
  std::unique_ptr<TorchModel> model = *TorchModel::Create(source, 6);
  PerExampleGradients method = *PerExampleGradients::Create(*model);
  // Inputs of very different scales: some gradients far above, some below.
  const torch::Tensor x = Inputs(source, 16, 1.0) *
                          torch::logspace(-3, 2, 16).reshape({16, 1, 1, 1});
  const torch::Tensor y = torch::arange(16, torch::kInt64) % 10;
  const std::vector<torch::Tensor> g = method.Compute(x, y, nullptr);
  const torch::Tensor norms = PerExampleNorms(g);
  const double clip = norms.median().item<double>();
  const torch::Tensor factors = ClipFactors(norms, clip);
  std::vector<torch::Tensor> scaled;
  for (const torch::Tensor& t : g) {
    std::vector<int64_t> shape(t.dim(), 1);
    shape[0] = 16;
    scaled.push_back(t * factors.to(torch::kFloat32).reshape(shape));
  }
  const torch::Tensor after = PerExampleNorms(scaled);
  int above = 0;
  for (int64_t i = 0; i < 16; ++i) {
    EXPECT_LE(after[i].item<double>(), clip + 1e-6) << "example " << i;
    if (norms[i].item<double>() > clip) {
      ++above;
    } else if (norms[i].item<double>() < clip - 1e-6) {
      EXPECT_EQ(factors[i].item<double>(), 1.0) << "example " << i;
    }
  }
  EXPECT_GE(above, 6);  // the test clips something
  // The clipped sum is the sum of the clipped gradients.
  const std::vector<torch::Tensor> sum = SumClipped(g, factors);
  for (size_t p = 0; p < g.size(); ++p) {
    EXPECT_TRUE(torch::allclose(sum[p], scaled[p].sum(0), 1e-5, 1e-6));
  }
}

TEST(PoissonSampleTest, LotSizesAreBinomialAndMayBeEmpty) {
  NoiseSource source = NoiseSource::FromSeedForTesting(21);
  const int draws = 2000;
  double sum = 0, sum_sq = 0;
  std::vector<int> hits(1000, 0);
  for (int d = 0; d < draws; ++d) {
    const torch::Tensor lot = PoissonSample(source, 1000, 0.05);
    const double size = lot.size(0);
    sum += size;
    sum_sq += size * size;
    for (int64_t k = 0; k < lot.size(0); ++k) {
      if (k > 0) ASSERT_LT(lot[k - 1].item<int64_t>(), lot[k].item<int64_t>());
      ++hits[lot[k].item<int64_t>()];
    }
  }
  const double mean = sum / draws;
  const double var = sum_sq / draws - mean * mean;
  // Binomial(1000, 0.05): mean 50, variance 47.5; the mean's standard error
  // is sqrt(47.5 / 2000) = 0.154, so 1.0 is 6.5 of them.
  EXPECT_NEAR(mean, 50.0, 1.0);
  EXPECT_NEAR(var, 47.5, 47.5 * 0.15);
  // Every index is drawn at rate q: 100 expected, sd 9.7 per index.
  for (int h : hits) EXPECT_NEAR(h, 100, 50);
  int empty = 0;
  for (int d = 0; d < 300; ++d)
    empty += PoissonSample(source, 10, 0.1).size(0) == 0;
  // P(empty) = 0.9^10 = 0.349: 105 expected, sd 8.3.
  EXPECT_NEAR(empty, 105, 40);
  EXPECT_EQ(PoissonSample(source, 10, 1.0).size(0), 10);
  EXPECT_EQ(PoissonSample(source, 10, 0.0).size(0), 0);
}

TEST(NoiseTest, AddsGaussianWithTheStatedStddev) {
  NoiseSource source = NoiseSource::FromSeedForTesting(5);
  std::vector<torch::Tensor> values = {torch::zeros({100000}),
                                       torch::full({2, 50000}, 3.0)};
  AddGaussianNoise(values, 0.7, source);
  const torch::Tensor all =
      torch::cat({values[0], values[1].flatten() - 3.0}).to(torch::kFloat64);
  // n = 200000: the sample sd's standard error is 0.7 / sqrt(2n) = 0.0011,
  // the mean's 0.7 / sqrt(n) = 0.0016.
  EXPECT_NEAR(all.std().item<double>(), 0.7, 0.7 * 0.01);
  EXPECT_NEAR(all.mean().item<double>(), 0.0, 0.01);
}

TEST(PlanDpSgdTest, FollowsTfPrivacysStepCount) {
  // compute_dp_sgd_privacy --N=60000 --batch_size=256 --epochs=60: 14063.
  DpSgdPlan plan = *PlanDpSgd(60000, 256, 60);
  EXPECT_DOUBLE_EQ(plan.sampling_rate, 256.0 / 60000);
  EXPECT_EQ(plan.steps, 14063);
  EXPECT_EQ(plan.steps_per_epoch, 235);
  plan = *PlanDpSgd(2500, 100, 90);  // Opacus's test: q 0.04, 2250 steps
  EXPECT_DOUBLE_EQ(plan.sampling_rate, 0.04);
  EXPECT_EQ(plan.steps, 2250);
  plan = *PlanDpSgd(10, 32, 2);  // batch above N: q = 1
  EXPECT_EQ(plan.sampling_rate, 1.0);
  EXPECT_EQ(plan.steps, 1);
  EXPECT_FALSE(PlanDpSgd(0, 32, 1).ok());
  EXPECT_FALSE(PlanDpSgd(10, 0, 1).ok());
}

Dataset GaussianData(int n, int dim, int classes, uint32_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor x = torch::randn({n, dim});
  Dataset data;
  data.sample_shape = {dim};
  data.num_classes = classes;
  data.features.assign(x.data_ptr<float>(), x.data_ptr<float>() + n * dim);
  for (int i = 0; i < n; ++i) data.labels.push_back(i % classes);
  return data;
}

// With a clip norm so small that the records' contribution is negligible,
// the trainer's delta after T plain-SGD steps (lr 1, no momentum) is the sum
// of T noise vectors N(0, (sigma C / (q N))^2): per coordinate, sd
// sqrt(T) sigma C / (q N).
TEST(DpSgdTrainerTest, DeltaCarriesTheStatedNoise) {
  ModelSource source = Zoo("logreg");
  source.input_shape = {100};
  absl::StatusOr<std::unique_ptr<TorchTrainer>> trainer =
      TorchTrainer::Create(source, GaussianData(1000, 100, 10, 3));
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  DpSgdOptions options;
  options.noise_multiplier = 100;
  options.clip_norm = 1e-3;
  options.seed_for_testing = 9;
  ASSERT_TRUE((*trainer)->EnableDpSgd(options).ok());
  TrainingConfig config;
  config.learning_rate = 1.0;
  config.momentum = 0;
  config.batch_size = 10;  // q = 0.01, T = 100, q N = 10
  const FlatVector global(1010);
  absl::StatusOr<TrainingResult> result =
      (*trainer)->Train(global, config, kNoCancel);
  ASSERT_TRUE(result.ok()) << result.status();
  const double expected = std::sqrt(100.0) * 100 * 1e-3 / 10;  // 0.1
  double sum = 0, sum_sq = 0;
  for (float v : result->delta.span()) {
    sum += v;
    sum_sq += static_cast<double>(v) * v;
  }
  const double n = result->delta.size();
  const double mean = sum / n;
  // n = 1010: the sd's standard error is 2.2%, the mean's 0.0031.
  EXPECT_NEAR(std::sqrt(sum_sq / n - mean * mean), expected, expected * 0.1);
  EXPECT_NEAR(mean, 0.0, 0.016);
}

TEST(DpSgdTrainerTest, LearnsSeparableDataAtModerateNoise) {
  ModelSource source = Zoo("logreg");
  source.input_shape = {10};
  source.num_classes = 2;
  Dataset data = GaussianData(2000, 10, 2, 4);
  for (int i = 0; i < 2000; ++i)
    data.features[i * 10] += data.labels[i] ? 2 : -2;
  std::unique_ptr<TorchTrainer> trainer = *TorchTrainer::Create(source, data);
  ASSERT_TRUE(trainer->EnableDpSgd({1.0, 1.0, 17, false}).ok());
  TrainingConfig config;
  config.batch_size = 64;
  config.learning_rate = 0.5;
  config.local_epochs = 2;
  absl::StatusOr<TrainingResult> result =
      trainer->Train(FlatVector(22), config, kNoCancel);
  ASSERT_TRUE(result.ok()) << result.status();
  // The separating coordinate's weight gap grew well beyond the noise.
  const float w0 = result->delta[0], w1 = result->delta[10];
  EXPECT_GT(w1 - w0, 0.5f);
  EXPECT_GT(result->train_loss, 0.0);
}

}  // namespace
}  // namespace fedlearn
