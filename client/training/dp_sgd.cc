#include "client/training/dp_sgd.h"

#include <torch/optim.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/training/dp_sgd_parts.h"
#include "common/models/torch_model.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::Status ValidateDpSgdOptions(const DpSgdOptions& options) {
  if (!(options.noise_multiplier >= 0) ||
      !std::isfinite(options.noise_multiplier)) {
    return absl::InvalidArgumentError(
        absl::StrCat("DP-SGD noise multiplier must be finite and >= 0, got ",
                     options.noise_multiplier));
  }
  if (!(options.clip_norm > 0) || !std::isfinite(options.clip_norm)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DP-SGD clip norm must be finite and > 0, got ", options.clip_norm));
  }
  return absl::OkStatus();
}

absl::StatusOr<DpSgdPlan> PlanDpSgd(uint64_t num_examples, int batch_size,
                                    int local_epochs) {
  if (num_examples < 1 || batch_size < 1 || local_epochs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("DP-SGD needs >= 1 example, batch size and epoch; got ",
                     num_examples, ", ", batch_size, ", ", local_epochs));
  }
  const uint64_t n = num_examples;
  const uint64_t b = static_cast<uint64_t>(batch_size);
  const uint64_t total = static_cast<uint64_t>(local_epochs) * n;
  const uint64_t steps = (total + b - 1) / b;
  if (steps > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("DP-SGD round of ", steps, " steps is too long"));
  }
  DpSgdPlan plan;
  plan.sampling_rate = std::min(1.0, static_cast<double>(b) / n);
  plan.steps = static_cast<int64_t>(steps);
  plan.steps_per_epoch = static_cast<int64_t>((n + b - 1) / b);
  return plan;
}

struct DpSgd::Impl {
  Impl(const DpSgdOptions& o, TorchModel& m, PerExampleGradients g,
       NoiseSource s)
      : options(o), model(m), grads(std::move(g)), noise(std::move(s)) {}

  // One step's noisy mean gradient into the parameters' .grad; adds the
  // lot's losses to `loss_sum` when `track_loss`.
  absl::Status Step(const LabeledTensors& data, const DpSgdPlan& plan,
                    DpSgdRunStats* stats, bool track_loss, double* loss_sum,
                    int64_t* loss_count);

  DpSgdOptions options;
  TorchModel& model;
  PerExampleGradients grads;
  NoiseSource noise;
  int64_t chunk = 1;  // examples per per-example-gradient pass
};

absl::Status DpSgd::Impl::Step(const LabeledTensors& data,
                               const DpSgdPlan& plan, DpSgdRunStats* stats,
                               bool track_loss, double* loss_sum,
                               int64_t* loss_count) {
  const int64_t n = data.labels.size(0);
  const torch::Tensor lot = PoissonSample(noise, n, plan.sampling_rate);
  const int64_t size = lot.size(0);
  stats->sampled += size;
  std::vector<torch::Tensor> sum;
  for (int64_t begin = 0; begin < size; begin += chunk) {
    const torch::Tensor idx =
        lot.slice(0, begin, std::min(begin + chunk, size));
    torch::Tensor losses;
    const std::vector<torch::Tensor> g =
        grads.Compute(data.features.index_select(0, idx),
                      data.labels.index_select(0, idx), &losses);
    const double batch_loss = losses.sum().item<double>();
    if (!std::isfinite(batch_loss)) {
      return absl::InternalError(absl::StrCat(
          "training diverged: loss ", batch_loss, " in DP-SGD step ",
          stats->steps, "; lower the learning rate"));
    }
    if (track_loss) {
      *loss_sum += batch_loss;
      *loss_count += idx.size(0);
    }
    const torch::Tensor norms = PerExampleNorms(g);
    stats->clipped += (norms > options.clip_norm).sum().item<int64_t>();
    std::vector<torch::Tensor> part =
        SumClipped(g, ClipFactors(norms, options.clip_norm));
    if (sum.empty()) {
      sum = std::move(part);
    } else {
      for (size_t p = 0; p < sum.size(); ++p) {
        if (sum[p].defined()) sum[p].add_(part[p]);
      }
    }
  }
  const std::vector<torch::Tensor>& params = model.Parameters();
  if (sum.empty()) {  // an empty lot: the noise alone
    sum.resize(params.size());
    for (size_t p = 0; p < params.size(); ++p) {
      if (params[p].requires_grad()) sum[p] = torch::zeros_like(params[p]);
    }
  }
  AddGaussianNoise(sum, options.noise_multiplier * options.clip_norm, noise);
  const double expected_lot = plan.sampling_rate * static_cast<double>(n);
  torch::NoGradGuard no_grad;
  for (size_t p = 0; p < params.size(); ++p) {
    if (!sum[p].defined()) continue;
    sum[p].div_(expected_lot);
    torch::Tensor grad = params[p].mutable_grad();
    if (grad.defined()) {
      grad.copy_(sum[p]);
    } else {
      params[p].mutable_grad() = sum[p].clone();  // not a view: zero_grad
                                                  // detaches it in place
    }
  }
  return absl::OkStatus();
}

DpSgd::DpSgd(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DpSgd::~DpSgd() = default;

absl::StatusOr<std::unique_ptr<DpSgd>> DpSgd::Create(
    const DpSgdOptions& options, TorchModel& model) {
  RETURN_IF_ERROR(ValidateDpSgdOptions(options));
  try {
    ASSIGN_OR_RETURN(
        PerExampleGradients grads,
        PerExampleGradients::Create(model, options.force_microbatch));
    std::optional<NoiseSource> noise;
    if (options.seed_for_testing.has_value()) {
      noise.emplace(NoiseSource::FromSeedForTesting(*options.seed_for_testing));
    } else {
      ASSIGN_OR_RETURN(NoiseSource os, NoiseSource::FromOsEntropy());
      noise.emplace(std::move(os));
    }
    auto impl = std::make_unique<Impl>(options, model, std::move(grads),
                                       *std::move(noise));
    int64_t trainable = 0;
    for (const torch::Tensor& p : model.Parameters()) {
      if (p.requires_grad()) trainable += p.numel();
    }
    impl->chunk = std::max<int64_t>(1, (int64_t{1} << 24) / trainable);
    return std::unique_ptr<DpSgd>(new DpSgd(std::move(impl)));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("setting up DP-SGD failed: ", DescribeTorchError(e)));
  }
}

absl::StatusOr<DpSgdRunStats> DpSgd::Run(
    const LabeledTensors& data, const DpSgdPlan& plan,
    torch::optim::Optimizer& optimizer,
    const std::function<void()>& before_step, const std::atomic<bool>& cancel) {
  DpSgdRunStats stats;
  double loss_sum = 0;
  int64_t loss_count = 0;
  const int64_t window_start = plan.steps - plan.steps_per_epoch;
  for (int64_t step = 0; step < plan.steps; ++step) {
    if (cancel.load(std::memory_order_relaxed)) {
      return absl::CancelledError("local training cancelled");
    }
    optimizer.zero_grad();
    RETURN_IF_ERROR(impl_->Step(data, plan, &stats, step >= window_start,
                                &loss_sum, &loss_count));
    if (before_step) before_step();
    optimizer.step();
    ++stats.steps;
  }
  stats.train_loss = loss_count > 0 ? loss_sum / loss_count : 0.0;
  return stats;
}

absl::StatusOr<double> RunDpSgd(DpSgd& dp, const LabeledTensors& data,
                                const TrainingConfig& config,
                                torch::optim::Optimizer& optimizer,
                                const std::function<void()>& before_step,
                                const std::atomic<bool>& cancel) {
  ASSIGN_OR_RETURN(const DpSgdPlan plan,
                   PlanDpSgd(static_cast<uint64_t>(data.labels.size(0)),
                             config.batch_size, config.local_epochs));
  ASSIGN_OR_RETURN(const DpSgdRunStats stats,
                   dp.Run(data, plan, optimizer, before_step, cancel));
  spdlog::debug(
      "DP-SGD ({} per-example gradients): {} steps at q = {:.6g}, mean lot "
      "{:.1f}, {:.1f}% of gradients clipped",
      dp.method_name(), stats.steps, plan.sampling_rate,
      static_cast<double>(stats.sampled) / std::max<int64_t>(stats.steps, 1),
      100.0 * stats.clipped / std::max<int64_t>(stats.sampled, 1));
  return stats.train_loss;
}

const char* DpSgd::method_name() const {
  return impl_->grads.method() == PerExampleGradients::Method::kLayerwise
             ? "layerwise"
             : "microbatch";
}

}  // namespace fedlearn
