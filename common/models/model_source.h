// Where a model's architecture comes from: the built-in zoo or a TorchScript
// file. Torch-free description; model_factory.h turns it into a module.
#ifndef FEDLEARN_COMMON_MODELS_MODEL_SOURCE_H_
#define FEDLEARN_COMMON_MODELS_MODEL_SOURCE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace fedlearn {

struct ModelSource {
  // "logreg", "mlp", "lenet5" or "torchscript".
  std::string architecture = "lenet5";
  // Required when architecture == "torchscript".
  std::string torchscript_path;
  // Per-sample input shape, e.g. {1, 28, 28} or {30}.
  std::vector<int64_t> input_shape = {1, 28, 28};
  int32_t num_classes = 10;
  // Hidden width for "mlp".
  int32_t hidden_units = 128;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_MODELS_MODEL_SOURCE_H_
