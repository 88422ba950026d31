// Record-level differential privacy at a site: DP-SGD (Abadi et al. 2016,
// "Deep Learning with Differential Privacy", Algorithm 1) as the local
// training loop of TorchTrainer (TorchTrainer::EnableDpSgd).
//
// One round of local training at a site of N records, with the task's batch
// size B and E local epochs, runs PlanDpSgd's T = ceil(E N / B) steps (TF
// Privacy's compute_dp_sgd_privacy count) at sampling rate q = min(1, B/N):
//   1. lot: every record joins independently with probability q (Poisson
//      sampling; the lot's size varies and may be 0);
//   2. per-example gradients g_i of the cross-entropy loss
//      (client/training/dp_sgd_parts.h: layerwise outer-product / im2col
//      for Linear and Conv2d, microbatches of one otherwise);
//   3. clip: g_i * min(1, C / (||g_i||_2 + 1e-6)), ||.|| over every
//      trainable parameter at once;
//   4. sum the clipped gradients and add N(0, (sigma C)^2) to every
//      coordinate;
//   5. divide by the expected lot size q N (Opacus's convention; dividing by
//      the actual size would leak it), set it as the parameters' gradient,
//      and take the optimizer's step (SGD, momentum, Adam, weight decay and
//      FedProx's proximal term are post-processing: they do not touch the
//      records).
// The RDP accountant (common/dp/rdp_accountant.h) composes T steps of the
// sampled Gaussian mechanism at (q, sigma) for that round: record_dp_trainer.h
// keeps the site's ledger and budget.
//
// Randomness: the lots and the noise come from one NoiseSource keyed from the
// OS CSPRNG at EnableDpSgd (the coordinator's training seed is not used: a
// lot the coordinator could predict would void the amplification by
// sampling), so DP-SGD training is not reproducible; seed_for_testing makes
// it so in tests and benchmarks only. Noise is drawn in float64 and each
// noisy sum rounded to float32 once (NoiseSource::AddGaussian).
//
// Refuses (FailedPrecondition, at EnableDpSgd): models with BatchNorm or
// other floating-point buffers (see dp_sgd_parts.h). Memory: per-example
// gradients are formed for at most max(1, 2^24 / d) examples at a time (d
// trainable values), so about 64 MiB whatever the lot size.
// Thread-safety: a DpSgd belongs to one TorchTrainer, one Run() at a time.
// Torch-free header.
#ifndef FEDLEARN_CLIENT_TRAINING_DP_SGD_H_
#define FEDLEARN_CLIENT_TRAINING_DP_SGD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config/training_config.h"

namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace fedlearn {

class TorchModel;
struct LabeledTensors;

struct DpSgdOptions {
  double noise_multiplier = 0;  // sigma >= 0 (0: clipping only, no DP)
  double clip_norm = 0;         // C > 0
  // Tests and benchmarks only: lots and noise from
  // NoiseSource::FromSeedForTesting(seed) instead of the OS CSPRNG.
  std::optional<uint64_t> seed_for_testing;
  // Tests and benchmarks only: per-example gradients by microbatches of one
  // even where the layerwise method applies.
  bool force_microbatch = false;
};

// InvalidArgument unless sigma >= 0 and C > 0 (both finite).
absl::Status ValidateDpSgdOptions(const DpSgdOptions& options);

// One round's DP-SGD schedule.
struct DpSgdPlan {
  double sampling_rate = 0;     // q = min(1, B / N)
  int64_t steps = 0;            // T = ceil(E N / B)
  int64_t steps_per_epoch = 0;  // ceil(N / B): the train loss's window
};
// InvalidArgument unless N >= 1, B >= 1, E >= 1 and T fits an int.
absl::StatusOr<DpSgdPlan> PlanDpSgd(uint64_t num_examples, int batch_size,
                                    int local_epochs);

struct DpSgdRunStats {
  int64_t steps = 0;
  int64_t sampled = 0;  // lot sizes summed over all steps
  int64_t clipped = 0;  // examples whose gradient norm exceeded C
  // Mean per-example loss (before each step) over the lots of the last
  // steps_per_epoch steps; 0 if they were all empty.
  double train_loss = 0;
};

class DpSgd {
 public:
  // See the header comment for the refusals; InvalidArgument for bad
  // options, Internal if the OS CSPRNG fails. `model` must outlive this.
  static absl::StatusOr<std::unique_ptr<DpSgd>> Create(
      const DpSgdOptions& options, TorchModel& model);
  ~DpSgd();
  DpSgd(const DpSgd&) = delete;
  DpSgd& operator=(const DpSgd&) = delete;

  // Runs plan.steps DP-SGD steps on `data` (the model in train mode),
  // calling `before_step` (may be empty) after the noisy gradient is set
  // and before each optimizer->step(). Cancelled if `cancel` becomes true;
  // Internal on a non-finite loss ("training diverged"). May throw LibTorch
  // exceptions (the trainer turns them into statuses).
  absl::StatusOr<DpSgdRunStats> Run(const LabeledTensors& data,
                                    const DpSgdPlan& plan,
                                    torch::optim::Optimizer& optimizer,
                                    const std::function<void()>& before_step,
                                    const std::atomic<bool>& cancel);

  // "layerwise" or "microbatch": how per-example gradients are computed.
  const char* method_name() const;

 private:
  struct Impl;
  explicit DpSgd(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// TorchTrainer's hook: PlanDpSgd(N, config.batch_size, config.local_epochs)
// then dp.Run(...); returns the run's train_loss. Same errors as both.
absl::StatusOr<double> RunDpSgd(DpSgd& dp, const LabeledTensors& data,
                                const TrainingConfig& config,
                                torch::optim::Optimizer& optimizer,
                                const std::function<void()>& before_step,
                                const std::atomic<bool>& cancel);

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_DP_SGD_H_
