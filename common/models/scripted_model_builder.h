// Writes TorchScript classifiers built in C++, so that tests and examples
// can exercise the "bring your own TorchScript model" path without Python.
//
// Parameters are initialised from `seed` like torch.nn.Linear (uniform
// +-1/sqrt(fan_in)); BatchNorm starts as torch.nn.BatchNorm1d does (weight 1,
// bias 0, running_mean 0, running_var 1, num_batches_tracked 0). Torch-free
// header.
#ifndef FEDLEARN_COMMON_MODELS_SCRIPTED_MODEL_BUILDER_H_
#define FEDLEARN_COMMON_MODELS_SCRIPTED_MODEL_BUILDER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace fedlearn {

// logits = flatten(x, 1) @ weight^T + bias, with parameters "weight"
// [num_classes, input_dim] and "bias" [num_classes].
// InvalidArgument for non-positive sizes, Internal if saving fails.
absl::Status SaveScriptedLinearClassifier(const std::string& path,
                                          int64_t input_dim,
                                          int64_t num_classes, uint64_t seed);

// logits = fc2(relu(bn1(fc1(flatten(x, 1))))), the layout a scripted
// torch.nn.Sequential of Linear, BatchNorm1d (momentum 0.1, eps 1e-5), ReLU
// and Linear would have: parameters fc1.weight, fc1.bias, bn1.weight,
// bn1.bias, fc2.weight, fc2.bias, and buffers bn1.running_mean,
// bn1.running_var (float32 [hidden_units]) and bn1.num_batches_tracked
// (int64 scalar). In training mode the forward pass normalises with the
// batch statistics and updates the running ones, as nn.BatchNorm1d does.
// InvalidArgument for non-positive sizes, Internal if saving fails.
absl::Status SaveScriptedBatchNormClassifier(const std::string& path,
                                             int64_t input_dim,
                                             int64_t hidden_units,
                                             int64_t num_classes,
                                             uint64_t seed);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_MODELS_SCRIPTED_MODEL_BUILDER_H_
