// LoRA (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models",
// ICLR 2022) for the zoo: a linear layer with a trainable low-rank update,
//   y = x W^T + b + (alpha / r) (x A^T) B^T,
// A [r, in], B [out, r]. A is initialised as microsoft/LoRA's loralib and
// Hugging Face PEFT do (kaiming_uniform with a = sqrt(5), i.e. uniform
// +-1/sqrt(in)) and B with zeros, so an adapted model starts equal to its
// base. Parameters, in named_parameters() order: weight, bias, lora_A,
// lora_B (lora_merge.h's naming convention), so a zoo model's spec lists
// "fc1.weight", "fc1.bias", "fc1.lora_A", "fc1.lora_B", and dropping the
// adapters gives the unadapted model's spec.
//
// AddLoraAdapters guarantees: the base layers keep their tensors (and so
// their initialisation from the model seed: a LoRA model's base equals the
// unadapted model of the same seed); A is drawn from a generator of its own,
// seeded from the model seed, layer by layer in network order. It refuses
// (InvalidArgument) targets that match no linear layer and a rank above
// min(in, out) of a matched layer. Which tensors train is decided elsewhere
// (the model's trainable selection); this file only shapes the network.
// Include only from LibTorch translation units. Not thread-safe.
#ifndef FEDLEARN_COMMON_MODELS_LORA_LINEAR_H_
#define FEDLEARN_COMMON_MODELS_LORA_LINEAR_H_

#include <torch/nn.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/models/model_source.h"

namespace fedlearn {

class LoraLinearImpl : public torch::nn::Module {
 public:
  // Adopts `base`'s weight and bias tensors; draws lora_A from `gen`.
  // REQUIRES: 0 < rank, alpha > 0.
  LoraLinearImpl(const torch::nn::Linear& base, int64_t rank, double alpha,
                 at::Generator& gen);

  torch::Tensor forward(const torch::Tensor& x);
  double scaling() const { return scaling_; }

 private:
  torch::Tensor weight_, bias_, lora_a_, lora_b_;
  double scaling_;
};
TORCH_MODULE(LoraLinear);

// True if a layer named `module_name` is one of `lora.targets` (a glob over
// the module name or over "<module_name>.weight"); every layer when the
// targets are empty.
bool IsLoraTarget(const LoraConfig& lora, const std::string& module_name);

// `net` with each Linear child that IsLoraTarget replaced by a LoraLinear
// around it. `architecture` names the model in errors.
absl::StatusOr<torch::nn::Sequential> AddLoraAdapters(
    torch::nn::Sequential net, const LoraConfig& lora, uint64_t seed,
    const std::string& architecture);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_MODELS_LORA_LINEAR_H_
