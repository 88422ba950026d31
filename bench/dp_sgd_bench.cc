// Record-level DP-SGD (client/training/dp_sgd.h) against plain mini-batch
// SGD in the same TorchTrainer: samples per second of one local round.
//
// Settings: the first N = 2048 Fashion-MNIST training images, SGD lr 0.05,
// momentum 0, batch 64, 1 local epoch, one LibTorch thread. DP-SGD: sigma 1,
// clip 1, Poisson lots at q = 64/2048 over ceil(N/B) = 32 steps (about N
// examples in expectation, counted as N),
// per-example gradients layerwise (outer product / im2col) and, for
// comparison, by microbatches of one. Medians over REPS rounds from the same
// initial model, after one unrecorded warm-up round.
//
// Usage: dp_sgd_bench [REPS]   (Release build; REPS default 7; about 30 s on
// one core; needs the Fashion-MNIST IDX files)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/training/dp_sgd.h"
#include "client/training/torch_trainer.h"
#include "common/data/data_source.h"
#include "common/models/model_factory.h"

#ifndef FEDLEARN_BENCH_BUILD_TYPE
#define FEDLEARN_BENCH_BUILD_TYPE "unknown"
#endif

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", what,
                 std::string(status.message()).c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedlearn;  // NOLINT(build/namespaces): a bench driver
  const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  if (reps < 1) {
    std::fprintf(stderr, "usage: dp_sgd_bench [REPS >= 1]\n");
    return 2;
  }
  SetTorchThreads(1);
  DataSourceConfig source;
  source.kind = "fashion-mnist";
  absl::StatusOr<Dataset> train = LoadDataSource(source, "train");
  Check(train.status(), "loading Fashion-MNIST");
  const size_t n = 2048;
  std::vector<size_t> indices(n);
  for (size_t i = 0; i < n; ++i) indices[i] = i;

  ModelSource model;
  model.architecture = "lenet5";
  model.input_shape = train->sample_shape;
  model.num_classes = train->num_classes;
  absl::StatusOr<FlatModel> initial = CreateInitialModel(model, 1);
  Check(initial.status(), "creating the model");

  TrainingConfig training;
  training.learning_rate = 0.05;
  training.momentum = 0;
  training.batch_size = 64;
  training.local_epochs = 1;

  std::printf("dp_sgd_bench  build=%s  torch threads=1  reps=%d\n",
              FEDLEARN_BENCH_BUILD_TYPE, reps);
  std::printf(
      "LeNet-5, N = %zu Fashion-MNIST images, batch 64, 1 epoch; "
      "DP-SGD sigma 1, C 1; medians\n\n",
      n);
  std::printf("| training | round (s) | samples/s | vs plain SGD |\n");
  std::printf("|---|---:|---:|---:|\n");
  const std::atomic<bool> cancel{false};
  double plain_rate = 0;
  for (int mode = 0; mode < 3; ++mode) {
    absl::StatusOr<std::unique_ptr<TorchTrainer>> trainer =
        TorchTrainer::Create(model, train->Subset(indices));
    Check(trainer.status(), "creating the trainer");
    if (mode > 0) {
      DpSgdOptions dp;
      dp.noise_multiplier = 1.0;
      dp.clip_norm = 1.0;
      dp.seed_for_testing = 1;
      dp.force_microbatch = mode == 2;
      Check((*trainer)->EnableDpSgd(dp), "enabling DP-SGD");
    }
    std::vector<double> seconds;
    for (int rep = -1; rep < reps; ++rep) {
      const Clock::time_point start = Clock::now();
      absl::StatusOr<TrainingResult> r =
          (*trainer)->Train(initial->values, training, cancel);
      Check(r.status(), "training");
      if (rep >= 0) {
        seconds.push_back(
            std::chrono::duration<double>(Clock::now() - start).count());
      }
    }
    // Plain SGD sees each example once; DP-SGD's 32 lots of expected size
    // 64 see N in expectation.
    const double s = Median(seconds);
    const double rate = static_cast<double>(n) / s;
    if (mode == 0) plain_rate = rate;
    const char* name = mode == 0   ? "plain SGD"
                       : mode == 1 ? "DP-SGD, layerwise per-example"
                                   : "DP-SGD, microbatches of one";
    std::printf("| %s | %.3f | %.0f | %.2fx |\n", name, s, rate,
                rate / plain_rate);
  }
  return 0;
}
