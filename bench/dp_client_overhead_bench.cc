// What distributed DP adds to one client's round, against what the round
// already costs: local training (TorchTrainer on Fashion-MNIST, one thread)
// versus clipping + the distributed discrete Gaussian encoding
// (ClipToL2Norm + PrivateInputCodec::Encode, common/dp/private_input_codec.h),
// measured in the same process on the same updates.
//
// Settings: logreg (D = 7,850) and lenet5 (D = 61,706), 60 and 600 local
// examples (the first n of the training split), SGD lr 0.1, momentum 0,
// weight decay 1e-4 (the coordinator default the DP demo keeps), batch 16,
// 2 local epochs. DP task: DISTRIBUTED, clip 1, noise_stddev 1 (z = 1),
// min_clients 80, max_clients 100, b = 32, a fixed 32-byte rotation seed,
// indicator noise 10 (what the planner sends for 100 expected clients).
//
// Each repetition trains one round from the same initial model (timed), then
// clips a copy of that round's delta and encodes it (timed together; the
// copy is not). Columns are medians over the repetitions:
//   train       TorchTrainer::Train, one round;
//   clip        ClipToL2Norm alone;
//   DP overhead clip + Encode (rotation, rounding, noise, indicator slot);
//   ratio       DP overhead / train;
//   setup       PrivateInputCodec::Create + NoiseSource::FromOsEntropy, which
//               a client also pays once per round (not in DP overhead).
//
// Usage: dp_client_overhead_bench [REPS]   (Release build; REPS default 31;
// about 10 s on one core; needs the Fashion-MNIST IDX files)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/training/torch_trainer.h"
#include "common/config/training_config.h"
#include "common/data/data_source.h"
#include "common/dp/l2_clipping.h"
#include "common/dp/noise_source.h"
#include "common/dp/private_input_codec.h"
#include "common/models/model_factory.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

#ifndef FEDLEARN_BENCH_BUILD_TYPE
#define FEDLEARN_BENCH_BUILD_TYPE "unknown"
#endif

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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

fedlearn::v1::DpTaskConfig DistributedTask() {
  fedlearn::v1::DpTaskConfig dp;
  dp.set_mode(fedlearn::v1::DpTaskConfig::DISTRIBUTED);
  dp.set_clip_norm(1.0);
  dp.set_noise_stddev(1.0);  // z = noise_stddev / clip_norm = 1
  dp.set_min_clients(80);
  dp.set_max_clients(100);
  dp.set_modulus_bits(32);
  std::string seed(32, '\0');
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<char>(i);
  dp.set_rotation_seed(seed);
  // 2 sigma_b with sigma_b = expected clients / 20
  // (server/round/dp_planner.cc).
  dp.set_indicator_noise_stddev(10.0);
  return dp;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedlearn;  // NOLINT(build/namespaces): a bench driver

  const int reps = argc > 1 ? std::atoi(argv[1]) : 31;
  if (reps < 1) {
    std::fprintf(stderr, "usage: dp_client_overhead_bench [REPS >= 1]\n");
    return 2;
  }
  SetTorchThreads(1);

  DataSourceConfig source;
  source.kind = "fashion-mnist";
  absl::StatusOr<Dataset> train = LoadDataSource(source, "train");
  Check(train.status(), "loading Fashion-MNIST");

  TrainingConfig training;
  training.optimizer = TrainingConfig::Optimizer::kSgd;
  training.learning_rate = 0.1;
  training.momentum = 0.0;
  training.weight_decay = 1e-4;
  training.local_epochs = 2;
  training.batch_size = 16;

  const v1::DpTaskConfig dp = DistributedTask();
  v1::SecAggEncoding encoding;  // unused by DISTRIBUTED; b comes from `dp`
  encoding.set_modulus_bits(32);

  std::printf("dp_client_overhead_bench  build=%s  torch threads=1  reps=%d\n",
              FEDLEARN_BENCH_BUILD_TYPE, reps);
  std::printf(
      "SGD lr 0.1, batch 16, 2 local epochs; DISTRIBUTED z = 1, C = 1, "
      "n_min = 80, n_max = 100, b = 32; medians\n\n");
  std::printf(
      "| model | D | examples | train | clip | DP overhead (clip + Encode) "
      "| ratio overhead/train | setup (Create + rng) | update norm |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");

  for (const char* architecture : {"logreg", "lenet5"}) {
    ModelSource model;
    model.architecture = architecture;
    model.input_shape = train->sample_shape;
    model.num_classes = train->num_classes;
    absl::StatusOr<FlatModel> initial = CreateInitialModel(model, /*seed=*/1);
    Check(initial.status(), "creating the model");
    const size_t dimension = initial->values.size();

    for (size_t examples : {size_t{60}, size_t{600}}) {
      std::vector<size_t> indices(examples);
      for (size_t i = 0; i < examples; ++i) indices[i] = i;
      absl::StatusOr<std::unique_ptr<TorchTrainer>> trainer =
          TorchTrainer::Create(model, train->Subset(indices));
      Check(trainer.status(), "creating the trainer");

      std::vector<double> train_s, clip_s, overhead_s, setup_s, norms;
      const std::atomic<bool> cancel{false};
      // One unrecorded repetition warms LibTorch's allocator and caches.
      for (int rep = -1; rep < reps; ++rep) {
        training.seed = static_cast<uint64_t>(rep + 2);
        Clock::time_point start = Clock::now();
        absl::StatusOr<TrainingResult> result =
            (*trainer)->Train(initial->values, training, cancel);
        const double trained = Seconds(start);
        Check(result.status(), "training");

        start = Clock::now();
        absl::StatusOr<PrivateInputCodec> codec =
            PrivateInputCodec::Create(dp, encoding, dimension);
        Check(codec.status(), "PrivateInputCodec::Create");
        absl::StatusOr<NoiseSource> rng = NoiseSource::FromOsEntropy();
        Check(rng.status(), "NoiseSource::FromOsEntropy");
        const double setup = Seconds(start);

        FlatVector update = result->delta.Clone();
        start = Clock::now();
        absl::StatusOr<ClipOutcome> clip =
            ClipToL2Norm(update.span(), dp.clip_norm());
        const double clipped = Seconds(start);
        Check(clip.status(), "ClipToL2Norm");
        absl::StatusOr<std::vector<uint32_t>> encoded =
            codec->Encode(update.span(), !clip->clipped, *rng);
        const double overhead = Seconds(start);
        Check(encoded.status(), "PrivateInputCodec::Encode");
        if (encoded->size() != codec->encoded_length()) {
          std::fprintf(stderr, "error: encoded length mismatch\n");
          return 1;
        }
        if (rep < 0) continue;
        train_s.push_back(trained);
        setup_s.push_back(setup);
        clip_s.push_back(clipped);
        overhead_s.push_back(overhead);
        norms.push_back(clip->norm_before);
      }
      const double train_med = Median(train_s);
      const double overhead_med = Median(overhead_s);
      std::printf(
          "| %s | %zu | %zu | %.1f ms | %.3f ms | %.2f ms | %.3g | %.2f ms "
          "| %.2f |\n",
          architecture, dimension, examples, train_med * 1e3,
          Median(clip_s) * 1e3, overhead_med * 1e3, overhead_med / train_med,
          Median(setup_s) * 1e3, Median(norms));
      std::fflush(stdout);
    }
  }
  return 0;
}
