// A LibTorch classifier behind a flat-vector interface: either a built-in
// zoo module ("logreg", "mlp", "mlp-bn", "lenet5") or a TorchScript module
// loaded from a file (how a participant brings its own PyTorch architecture).
//
// Guarantees: Spec() lists the parameters in named_parameters() order
// (TensorKind::kParameter), then, when the ModelSource's buffer policy is
// kFederated, the float32 buffers in named_buffers() order
// (TensorKind::kBuffer, named like the buffer: "bn1.running_mean").
// ToFlat()/LoadFlat() use exactly that order and layout. Zoo models are
// initialised deterministically from the seed given to Create(), with
// PyTorch's default distribution (uniform +-1/sqrt(fan_in); BatchNorm weight
// 1, bias 0, running_mean 0, running_var 1), using a private generator so
// concurrent creations do not disturb each other.
//
// Buffers. Floating-point buffers are state the forward pass updates in
// training mode, chiefly BatchNorm running statistics, which eval mode uses
// instead of batch statistics; a model that drops them evaluates with the
// initial ones. The BufferPolicy decides where they live:
//  - kFederated (default): they are in the flat vector, so the trainer's
//    delta carries trained - global buffers, FedAvg averages those deltas
//    like any other value (global += server_learning_rate * weighted mean
//    delta: at rate 1 each global buffer is the example-weighted mean of the
//    sites' trained buffers; running_var so becomes a mean of per-site
//    variances, not the pooled variance), and a saved model carries them.
//    They pass through clipping, DP noise and secure-aggregation encoding
//    like parameters (they are computed from the sites' data, so DP must
//    cover them); TensorKind tells them apart for code that should not.
//    Secure aggregation clips every delta value to +-clip_range, buffer
//    deltas included; DP noise or server_learning_rate > 1 can drive a
//    global running_var negative (eval mode then yields NaN): prefer kLocal
//    in such runs.
//  - kLocal (FedBN, Li et al., ICLR 2021): they are not in the flat vector.
//    Each site keeps its own: LoadFlat() never touches them, so a trainer's
//    statistics persist across rounds (for the process's lifetime; they are
//    not saved). Unlike FedBN proper, BatchNorm's affine weight and bias are
//    parameters and stay federated. The coordinator's model then carries no
//    running statistics: its evaluator, and any inference from a saved model,
//    run BatchNorm in eval mode with the module's initial buffers (zoo:
//    running_mean 0, running_var 1; TorchScript: those stored in the file),
//    so server-side metrics under kLocal do not reflect the sites' models.
// Integer buffers (BatchNorm's num_batches_tracked) are never federated:
// they only matter when BatchNorm's momentum is None (cumulative average),
// which then runs per site. Buffers must be updated in place, as
// nn.BatchNorm* does; a TorchScript forward() that rebinds a buffer
// attribute to a new tensor is not supported.
//
// Refuses: unknown architectures, lenet5 inputs other than {C, 28, 28},
// TorchScript modules without parameters or with non-float32 parameters,
// and, under kFederated, floating-point buffers other than float32.
//
// Include only from LibTorch translation units; torch-free code uses
// model_factory.h, local_trainer.h or model_evaluator.h instead. Forward()
// may throw LibTorch exceptions: callers catch them at their boundary.
// Not thread-safe.
#ifndef FEDLEARN_COMMON_MODELS_TORCH_MODEL_H_
#define FEDLEARN_COMMON_MODELS_TORCH_MODEL_H_

#include <torch/types.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/flat/flat_vector.h"
#include "common/models/model_source.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace fedlearn {

class TorchModel {
 public:
  // InvalidArgument for a bad source, NotFound for a missing TorchScript
  // file.
  static absl::StatusOr<std::unique_ptr<TorchModel>> Create(
      const ModelSource& source, uint64_t seed);

  virtual ~TorchModel() = default;
  TorchModel(const TorchModel&) = delete;
  TorchModel& operator=(const TorchModel&) = delete;

  const ModelSpec& Spec() const { return spec_; }
  // Logits [N, num_classes] for a batch [N, sample_shape...].
  virtual torch::Tensor Forward(const torch::Tensor& x) = 0;
  virtual void SetTraining(bool training) = 0;
  // The live trainable parameter tensors (shared storage), in spec order;
  // never the buffers, which have no gradient.
  const std::vector<torch::Tensor>& Parameters() const { return params_; }
  BufferPolicy buffer_policy() const { return buffer_policy_; }
  // The zoo's network, a torch::nn::SequentialImpl whose layers per-example
  // gradients walk (client/training/dp_sgd_parts.h); null for TorchScript.
  virtual torch::nn::Module* ZooNetwork() { return nullptr; }

  // Copies `values` into the parameters and, under kFederated, the buffers;
  // InvalidArgument on a size mismatch (the model is then unchanged).
  absl::Status LoadFlat(const FlatVector& values);
  // Parameters, then (kFederated) buffers, as Spec() lists them.
  FlatVector ToFlat() const;
  // The floating-point buffers as they stand, in named_buffers() order,
  // converted to float32, whatever the policy: under kLocal, the site's own
  // statistics. Empty for a model without buffers.
  FlatVector BuffersToFlat() const;
  // The inverse: copies `values` (BuffersToFlat()'s layout, e.g. a trainer's
  // own statistics under kLocal) into the buffers, whatever the policy;
  // InvalidArgument on a size mismatch (the model is then unchanged).
  absl::Status LoadBuffers(const FlatVector& values);

  // Freezing (ModelSource trainable/frozen, torch_model_freezing.cc): the
  // frozen parameters have requires_grad false and are neither in Spec(),
  // Parameters(), ToFlat() nor LoadFlat(); nor are the float buffers of a
  // module whose parameters are all frozen, and such modules (BatchNorm)
  // stay in eval mode in SetTraining(true). Their values are the base's
  // (ModelSource::initial_weights, or a TorchScript file's own).
  // The whole model, frozen tensors included: every parameter, then the
  // buffers that are federated or frozen, in module order. Equal to
  // {Spec(), ToFlat()} when nothing is frozen.
  FlatModel ToFullModel() const;
  // FrozenBaseSha256() of the frozen tensors; "" when nothing is frozen.
  const std::string& FrozenBaseSha256() const { return frozen_sha256_; }

 protected:
  using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;
  // `named_params` in named_parameters() order, all float32;
  // `float_buffers` the floating-point buffers in named_buffers() order
  // (all float32 when `policy` is kFederated).
  TorchModel(std::string architecture, NamedTensors named_params,
             NamedTensors float_buffers, BufferPolicy policy);
  // Subclasses call it at the end of SetTraining(true): the modules whose
  // parameters are all frozen go back to eval mode.
  void KeepFrozenModulesInEval();
  // Sets the training flag of the submodule named `module` ("bn1").
  virtual void SetModuleTraining(const std::string& module, bool training) {}

 private:
  // Loads source.initial_weights, then freezes by source.trainable/frozen
  // and checks source.base_weights_sha256 (torch_model_freezing.cc).
  absl::Status ApplyBaseAndSelection(const ModelSource& source);

  ModelSpec spec_;
  BufferPolicy buffer_policy_;
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> buffers_;     // all floating-point buffers
  std::vector<std::string> buffer_names_;  // of buffers_
  // The whole model (ToFullModel) and its live tensors, in that order.
  ModelSpec full_spec_;
  std::vector<torch::Tensor> full_tensors_;
  std::vector<std::string> frozen_modules_;
  std::string frozen_sha256_;
};

// A dataset as tensors: features [N, sample_shape...] float32, labels [N]
// int64.
struct LabeledTensors {
  torch::Tensor features;
  torch::Tensor labels;
};

// Moves `data` into tensors (features without a copy) after checking that it
// is non-empty, finite and consistent, and that `model` maps one sample to
// data.num_classes logits; InvalidArgument otherwise, naming the shapes, so
// an incompatible model fails here rather than mid-training.
absl::StatusOr<LabeledTensors> PrepareDataset(Dataset data, TorchModel& model);

// The message of a LibTorch exception, without the C++ backtrace that
// c10::Error appends.
std::string DescribeTorchError(const std::exception& e);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_MODELS_TORCH_MODEL_H_
