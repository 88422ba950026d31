// LocalTrainer on LibTorch: mini-batch SGD or Adam with cross-entropy loss
// on an in-memory dataset, for any model the zoo or a TorchScript file gives.
//
// Guarantees: the dataset is converted to tensors once, at Create(), which
// also runs one forward pass so an incompatible model or sample shape is
// refused there. Train() is deterministic for a given config.seed (it draws
// the per-epoch shuffles from a private generator), thread count and (under
// BufferPolicy::kLocal) starting buffers, returns delta = trained - global
// computed in float32, and never returns a partial or non-finite result:
// cancellation gives Cancelled, a non-finite loss gives Internal ("training
// diverged"). Optimizer state starts fresh in every Train() call. LibTorch
// exceptions become statuses.
//
// FedProx (config.proximal_mu = mu > 0, Li et al. 2020): the local objective
// is the data loss + mu/2 ||w - w_global||^2 over the trainable parameters
// (w_global: the parameters Train() loaded), applied as mu (w - w_global)
// added to each gradient before every optimizer step, as in the paper's
// reference implementation. The reported train_loss is the data loss alone.
// mu = 0 runs exactly the FedAvg loop (bit-identical results).
//
// q-FFL (config.qffl_lipschitz > 0): before training, the global model's mean
// loss over the whole training set, in eval mode, is reported as
// TrainingResult::global_loss (F_k); training itself is unchanged.
//
// Buffers (see torch_model.h): the model trains in train mode, so BatchNorm
// normalises with batch statistics and updates its running ones. Under
// kFederated, Train() first loads the global buffers with the parameters and
// the delta's buffer part is trained - global buffers; the optimizer and
// weight decay touch parameters only. Under kLocal, the global vector holds
// no buffers and the site's running statistics carry over from one Train()
// to the next. A last mini-batch of one sample is merged into the batch
// before it (BatchNorm needs two samples); a dataset of one sample cannot
// train a BatchNorm model.
// Not thread-safe: one Train() at a time per instance.
//
// Torch-free header: the LibTorch types stay in torch_trainer.cc.
#ifndef FEDLEARN_CLIENT_TRAINING_TORCH_TRAINER_H_
#define FEDLEARN_CLIENT_TRAINING_TORCH_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "client/training/local_trainer.h"
#include "common/data/dataset.h"
#include "common/flat/flat_vector.h"
#include "common/models/model_source.h"

namespace fedlearn {

class TorchModel;
struct LabeledTensors;
class DpSgd;
struct DpSgdOptions;

class TorchTrainer : public LocalTrainer {
 public:
  // InvalidArgument if the model cannot be built, or if the dataset is empty,
  // inconsistent, or not accepted by the model (sample shape, class count).
  static absl::StatusOr<std::unique_ptr<TorchTrainer>> Create(
      const ModelSource& source, Dataset train_data);
  ~TorchTrainer() override;

  const ModelSpec& Spec() const override;
  uint64_t NumExamples() const override;
  // The local model's floating-point buffers as they stand (after the last
  // Train(), or the initial ones), in named_buffers() order, whatever the
  // buffer policy; empty for a model without buffers.
  FlatVector LocalBuffers() const;
  // The local model with its frozen tensors (TorchModel::ToFullModel).
  FlatModel FullModel() const;
  absl::StatusOr<TrainingResult> Train(
      const FlatVector& global, const TrainingConfig& config,
      const std::atomic<bool>& cancel) override;
  // Record-level DP: from now on Train() runs DP-SGD (dp_sgd.h) instead of
  // its mini-batch loop, with PlanDpSgd's schedule for the task's batch size
  // and epochs. FailedPrecondition for a model DP-SGD refuses (BatchNorm).
  // Its lots and noise come from the OS CSPRNG, not config.seed, so Train()
  // is then not reproducible (unless options.seed_for_testing).
  absl::Status EnableDpSgd(const DpSgdOptions& options);

 private:
  TorchTrainer(std::unique_ptr<TorchModel> model,
               std::unique_ptr<LabeledTensors> data);

  std::unique_ptr<TorchModel> model_;
  std::unique_ptr<LabeledTensors> data_;
  std::unique_ptr<DpSgd> dp_sgd_;  // null: plain training
};

// Sets LibTorch's intra-op thread count for the whole process, and on the
// first call the inter-op count too (LibTorch allows that only once, before
// any inter-op work). For binaries; the trainer itself never changes it.
void SetTorchThreads(int intra_op);

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_TORCH_TRAINER_H_
