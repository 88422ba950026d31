// A LibTorch classifier behind a flat-parameter interface: either a built-in
// zoo module ("logreg", "mlp", "lenet5") or a TorchScript module loaded from
// a file (how a participant brings its own PyTorch architecture).
//
// Guarantees: Spec() lists the parameters in named_parameters() order, and
// ToFlat()/LoadFlat() use exactly that order and layout. Zoo models are
// initialised deterministically from the seed given to Create(), with
// PyTorch's default distribution (uniform +-1/sqrt(fan_in)), using a private
// generator so concurrent creations do not disturb each other.
// Refuses: unknown architectures, lenet5 inputs other than {C, 28, 28},
// TorchScript modules without parameters or with non-float32 parameters.
//
// Include only from LibTorch translation units; torch-free code uses
// model_factory.h, local_trainer.h or model_evaluator.h instead. Forward()
// may throw LibTorch exceptions: callers catch them at their boundary.
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
  // The live parameter tensors (shared storage), in spec order.
  const std::vector<torch::Tensor>& Parameters() const { return params_; }

  // Copies `values` into the parameters; InvalidArgument on a size mismatch.
  absl::Status LoadFlat(const FlatVector& values);
  FlatVector ToFlat() const;

 protected:
  // `named_params` in named_parameters() order, all float32.
  TorchModel(std::string architecture,
             std::vector<std::pair<std::string, torch::Tensor>> named_params);

 private:
  ModelSpec spec_;
  std::vector<torch::Tensor> params_;
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
