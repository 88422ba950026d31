// Writes a TorchScript classifier built in C++, so that tests and examples
// can exercise the "bring your own TorchScript model" path without Python.
//
// The module computes logits = flatten(x, 1) @ weight^T + bias with
// parameters "weight" [num_classes, input_dim] and "bias" [num_classes],
// initialised from `seed` like torch.nn.Linear. Torch-free header.
#ifndef FEDLEARN_COMMON_MODELS_SCRIPTED_MODEL_BUILDER_H_
#define FEDLEARN_COMMON_MODELS_SCRIPTED_MODEL_BUILDER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace fedlearn {

// InvalidArgument for non-positive sizes, Internal if saving fails.
absl::Status SaveScriptedLinearClassifier(const std::string& path,
                                          int64_t input_dim,
                                          int64_t num_classes, uint64_t seed);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_MODELS_SCRIPTED_MODEL_BUILDER_H_
