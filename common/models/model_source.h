// Where a model's architecture comes from: the built-in zoo or a TorchScript
// file, and how its buffers federate. Torch-free description; model_factory.h
// turns it into a module.
#ifndef FEDLEARN_COMMON_MODELS_MODEL_SOURCE_H_
#define FEDLEARN_COMMON_MODELS_MODEL_SOURCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fedlearn {

// What happens to a model's floating-point buffers (BatchNorm running_mean
// and running_var). See torch_model.h for the full contract.
enum class BufferPolicy {
  // The buffers are part of the flat vector (after the parameters): they
  // travel in the update as deltas and FedAvg averages them like parameters.
  kFederated,
  // FedBN-style (Li et al., ICLR 2021): the buffers never leave the site and
  // are not in the flat vector; each site keeps its own across rounds.
  kLocal,
};

// "federated" / "local": the names configuration files and flags use.
inline const char* BufferPolicyName(BufferPolicy policy) {
  return policy == BufferPolicy::kLocal ? "local" : "federated";
}

// Inverse of BufferPolicyName; InvalidArgument for any other string.
inline absl::StatusOr<BufferPolicy> ParseBufferPolicy(absl::string_view name) {
  if (name == "federated") return BufferPolicy::kFederated;
  if (name == "local") return BufferPolicy::kLocal;
  return absl::InvalidArgumentError(
      absl::StrCat("buffer policy must be \"federated\" or \"local\", got \"",
                   name.substr(0, 64), "\""));
}

// Low-rank adapters (LoRA, Hu et al., ICLR 2022) on chosen linear layers of
// a zoo model: layer(x) = W x + b + (alpha / rank) B A x, with A [rank, in]
// and B [out, rank]. Off when rank is 0. See common/models/lora_linear.h.
struct LoraConfig {
  uint32_t rank = 0;
  // The scaling is alpha / rank (default 8, as Hugging Face PEFT's).
  double alpha = 8.0;
  // Globs (fnmatch: * ? [...]) over the linear layers' module names ("fc*")
  // or weight names ("fc1.weight"); empty: every linear layer.
  std::vector<std::string> targets;

  bool enabled() const { return rank > 0; }
};

struct ModelSource {
  // "logreg", "mlp", "mlp-bn", "lenet5" or "torchscript".
  std::string architecture = "lenet5";
  // Required when architecture == "torchscript".
  std::string torchscript_path;
  // Per-sample input shape, e.g. {1, 28, 28} or {30}.
  std::vector<int64_t> input_shape = {1, 28, 28};
  int32_t num_classes = 10;
  // Hidden width for "mlp" and "mlp-bn".
  int32_t hidden_units = 128;
  // Coordinator and clients must agree: the policy decides the spec.
  BufferPolicy buffers = BufferPolicy::kFederated;
  // Pre-trained weights loaded over the initial ones (model_weights.h): a
  // model file (.fmodel) or a safetensors file; "" or "torchscript" = none
  // (a TorchScript module then keeps the weights stored in its file). On the
  // coordinator the run's initial model; at a site its copy of the base.
  std::string initial_weights;
  // Which parameters train (parameter_selection.h); at most one is set.
  // Frozen parameters (and the buffers of modules whose parameters are all
  // frozen) keep the base's values and are not in the spec.
  std::vector<std::string> trainable;
  std::vector<std::string> frozen;
  // SHA-256 of the frozen base tensors (FrozenBaseSha256). If non-empty,
  // building the model refuses a base whose digest differs ("" = unchecked).
  std::string base_weights_sha256;
  // Zoo models only; a TorchScript module carries its own adapters
  // (examples/finetune/make_lora_model.py).
  LoraConfig lora;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_MODELS_MODEL_SOURCE_H_
