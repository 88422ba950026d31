#include "client/training/torch_trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "client/training/dp_sgd.h"
#include "common/models/torch_model.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

absl::Status ValidateConfig(const TrainingConfig& config) {
  if (config.local_epochs < 1 || config.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("local_epochs and batch_size must be >= 1, got ",
                     config.local_epochs, " and ", config.batch_size));
  }
  if (!(config.learning_rate >= 0) || !(config.weight_decay >= 0) ||
      !(config.momentum >= 0)) {
    return absl::InvalidArgumentError(
        "learning_rate, momentum and weight_decay must be >= 0");
  }
  if (!(config.proximal_mu >= 0) || !std::isfinite(config.proximal_mu)) {
    return absl::InvalidArgumentError("proximal_mu must be finite and >= 0");
  }
  return absl::OkStatus();
}

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(
    const TrainingConfig& config, const std::vector<torch::Tensor>& params) {
  if (config.optimizer == TrainingConfig::Optimizer::kAdam) {
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(config.learning_rate)
                    .weight_decay(config.weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(
      params, torch::optim::SGDOptions(config.learning_rate)
                  .momentum(config.momentum)
                  .weight_decay(config.weight_decay));
}

std::vector<torch::Tensor> DetachedCopies(
    const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& t : tensors) out.push_back(t.detach().clone());
  return out;
}

// FedProx (Li et al. 2020): the gradient of mu/2 ||w - w_global||^2, that is
// mu (w - w_global), added to each trainable parameter's gradient before the
// optimizer step, as the reference implementation's PerturbedGradientDescent
// does (grad + mu (w - w*)). It is exactly the gradient adding the term to
// the loss would give, so with momentum, weight decay or Adam it enters the
// optimizer like the data gradient; adding it here keeps the autograd graph
// and the reported loss those of the data. A parameter without a gradient
// (frozen) is left alone; buffers are not parameters and never in the term.
void AddProximalGradient(const std::vector<torch::Tensor>& params,
                         const std::vector<torch::Tensor>& anchor, double mu) {
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < params.size(); ++k) {
    torch::Tensor grad = params[k].mutable_grad();
    if (!grad.defined()) continue;
    grad.add_(params[k] - anchor[k], mu);
  }
}

// q-FFL's F_k (Li et al. 2020, Algorithm 2): the mean cross-entropy of the
// model as loaded, in eval mode (BatchNorm on its running statistics), over
// the whole training set in batches of `batch_size`. Leaves eval mode set.
double MeanLossInEvalMode(TorchModel& model, const LabeledTensors& data,
                          int64_t batch_size) {
  torch::NoGradGuard no_grad;
  model.SetTraining(false);
  const int64_t n = data.labels.size(0);
  double sum = 0.0;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, n);
    torch::Tensor loss = torch::nn::functional::cross_entropy(
        model.Forward(data.features.slice(0, begin, end)),
        data.labels.slice(0, begin, end),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(
            torch::kSum));
    sum += loss.item<double>();
  }
  return sum / static_cast<double>(n);
}

}  // namespace

TorchTrainer::TorchTrainer(std::unique_ptr<TorchModel> model,
                           std::unique_ptr<LabeledTensors> data)
    : model_(std::move(model)), data_(std::move(data)) {}

TorchTrainer::~TorchTrainer() = default;

absl::Status TorchTrainer::EnableDpSgd(const DpSgdOptions& options) {
  ASSIGN_OR_RETURN(dp_sgd_, DpSgd::Create(options, *model_));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TorchTrainer>> TorchTrainer::Create(
    const ModelSource& source, Dataset train_data) {
  // The initial parameters are irrelevant: Train() loads the global model.
  ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> model,
                   TorchModel::Create(source, /*seed=*/0));
  ASSIGN_OR_RETURN(LabeledTensors data,
                   PrepareDataset(std::move(train_data), *model));
  return std::unique_ptr<TorchTrainer>(new TorchTrainer(
      std::move(model), std::make_unique<LabeledTensors>(std::move(data))));
}

const ModelSpec& TorchTrainer::Spec() const { return model_->Spec(); }

FlatVector TorchTrainer::LocalBuffers() const {
  return model_->BuffersToFlat();
}

FlatModel TorchTrainer::FullModel() const { return model_->ToFullModel(); }

uint64_t TorchTrainer::NumExamples() const { return data_->labels.size(0); }

absl::StatusOr<TrainingResult> TorchTrainer::Train(
    const FlatVector& global, const TrainingConfig& config,
    const std::atomic<bool>& cancel) {
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(ValidateConfig(config));
  RETURN_IF_ERROR(model_->LoadFlat(global));
  try {
    std::optional<double> global_loss;  // q-FFL's F_k, before any step
    if (config.qffl_lipschitz > 0) {
      global_loss = MeanLossInEvalMode(*model_, *data_, config.batch_size);
    }
    model_->SetTraining(true);
    std::unique_ptr<torch::optim::Optimizer> optimizer =
        MakeOptimizer(config, model_->Parameters());
    // FedProx's w_global: the parameters as loaded, before any step. With
    // mu = 0 nothing is copied or added (bit-identical to FedAvg training).
    const double mu = config.proximal_mu;
    const std::vector<torch::Tensor> anchor =
        mu > 0 ? DetachedCopies(model_->Parameters())
               : std::vector<torch::Tensor>();
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(config.seed);
    const int64_t n = data_->labels.size(0);
    double epoch_loss = 0.0;
    if (dp_sgd_ != nullptr) {  // record-level DP replaces the loop below
      auto proximal = [&] {
        if (mu > 0) AddProximalGradient(model_->Parameters(), anchor, mu);
      };
      ASSIGN_OR_RETURN(epoch_loss, RunDpSgd(*dp_sgd_, *data_, config,
                                            *optimizer, proximal, cancel));
    }
    for (int epoch = 0; dp_sgd_ == nullptr && epoch < config.local_epochs;
         ++epoch) {
      const torch::Tensor order = torch::randperm(n, gen);
      double loss_sum = 0.0;
      for (int64_t begin = 0, end = 0; begin < n; begin = end) {
        if (cancel.load(std::memory_order_relaxed)) {
          return absl::CancelledError("local training cancelled");
        }
        end = std::min(begin + config.batch_size, n);
        // BatchNorm cannot take batch statistics of one sample, so a lone
        // last sample joins the batch before it.
        if (n - end == 1) end = n;
        const torch::Tensor idx = order.slice(0, begin, end);
        const torch::Tensor x = data_->features.index_select(0, idx);
        const torch::Tensor y = data_->labels.index_select(0, idx);
        optimizer->zero_grad();
        torch::Tensor loss =
            torch::nn::functional::cross_entropy(model_->Forward(x), y);
        const double batch_loss = loss.item<double>();
        if (!std::isfinite(batch_loss)) {
          return absl::InternalError(absl::StrCat(
              "training diverged: loss ", batch_loss, " in epoch ", epoch,
              " at sample ", begin, "; lower the learning rate"));
        }
        loss.backward();
        if (mu > 0) AddProximalGradient(model_->Parameters(), anchor, mu);
        optimizer->step();
        loss_sum += batch_loss * idx.size(0);
      }
      epoch_loss = loss_sum / n;
    }

    TrainingResult result;
    result.delta = model_->ToFlat();
    for (size_t i = 0; i < result.delta.size(); ++i) {
      result.delta[i] -= global[i];
    }
    if (absl::Status s = CheckAllFinite(result.delta.span()); !s.ok()) {
      return absl::InternalError(
          absl::StrCat("training diverged: ", s.message()));
    }
    result.num_examples = n;
    result.train_loss = epoch_loss;
    result.global_loss = global_loss;
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    return result;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("local training failed: ", DescribeTorchError(e)));
  }
}

void SetTorchThreads(int intra_op) {
  at::set_num_threads(intra_op);
  // Debian's LibTorch calls the system BLAS. OpenBLAS (pthread build) runs
  // its own pool and serialises concurrent callers on it, so two trainings
  // in one process would share one core: measured 3x slower per round in the
  // simulation. Pin it to the caller's thread when it is the active BLAS.
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(
          dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(intra_op);
  }
  static std::once_flag interop_once;
  std::call_once(interop_once, [intra_op] {
    try {
      at::set_num_interop_threads(intra_op);
    } catch (const c10::Error&) {
      // The inter-op pool already started; its size can no longer change.
    }
  });
}

}  // namespace fedlearn
