#include "common/models/scripted_model_builder.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/script.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/models/torch_model.h"

namespace fedlearn {
namespace {

// Scripted nn.Modules carry a `training` flag, which Module::train() sets
// and forward() may read; a module built in C++ has to declare it.
void DeclareTrainingFlag(torch::jit::Module& module) {
  module.register_attribute("training", c10::BoolType::get(), true);
}

// A parameter-only submodule holding a Linear layer's weight and bias; the
// parent's forward() does the arithmetic.
torch::jit::Module LinearParameters(int64_t in, int64_t out,
                                    at::Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  torch::jit::Module layer("Linear");
  DeclareTrainingFlag(layer);
  layer.register_parameter("weight",
                           torch::empty({out, in}).uniform_(-bound, bound, gen),
                           /*is_buffer=*/false);
  layer.register_parameter("bias",
                           torch::empty({out}).uniform_(-bound, bound, gen),
                           /*is_buffer=*/false);
  return layer;
}

}  // namespace

absl::Status SaveScriptedLinearClassifier(const std::string& path,
                                          int64_t input_dim,
                                          int64_t num_classes, uint64_t seed) {
  if (input_dim <= 0 || num_classes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input_dim and num_classes must be positive, got ",
                     input_dim, " and ", num_classes));
  }
  try {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    const double bound = 1.0 / std::sqrt(static_cast<double>(input_dim));
    torch::jit::Module module("LinearClassifier");
    module.register_parameter(
        "weight",
        torch::empty({num_classes, input_dim}).uniform_(-bound, bound, gen),
        /*is_buffer=*/false);
    module.register_parameter(
        "bias", torch::empty({num_classes}).uniform_(-bound, bound, gen),
        /*is_buffer=*/false);
    module.define(R"(
def forward(self, x):
    return torch.matmul(torch.flatten(x, 1), self.weight.t()) + self.bias
)");
    module.save(path);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("saving TorchScript model to ",
                                            path, ": ", DescribeTorchError(e)));
  }
}

absl::Status SaveScriptedBatchNormClassifier(const std::string& path,
                                             int64_t input_dim,
                                             int64_t hidden_units,
                                             int64_t num_classes,
                                             uint64_t seed) {
  if (input_dim <= 0 || hidden_units <= 0 || num_classes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input_dim, hidden_units and num_classes must be positive, got ",
        input_dim, ", ", hidden_units, " and ", num_classes));
  }
  try {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    torch::jit::Module bn("BatchNorm1d");
    DeclareTrainingFlag(bn);
    bn.register_parameter("weight", torch::ones({hidden_units}),
                          /*is_buffer=*/false);
    bn.register_parameter("bias", torch::zeros({hidden_units}),
                          /*is_buffer=*/false);
    bn.register_buffer("running_mean", torch::zeros({hidden_units}));
    bn.register_buffer("running_var", torch::ones({hidden_units}));
    bn.register_buffer("num_batches_tracked", torch::zeros({}, torch::kInt64));

    torch::jit::Module module("BatchNormClassifier");
    DeclareTrainingFlag(module);
    // Registration order is named_parameters() order.
    module.register_module("fc1",
                           LinearParameters(input_dim, hidden_units, gen));
    module.register_module("bn1", bn);
    module.register_module("fc2",
                           LinearParameters(hidden_units, num_classes, gen));
    module.define(R"(
def forward(self, x):
    h = torch.matmul(torch.flatten(x, 1), self.fc1.weight.t()) + self.fc1.bias
    if self.training:
        self.bn1.num_batches_tracked.add_(1)
    h = torch.batch_norm(h, self.bn1.weight, self.bn1.bias,
                         self.bn1.running_mean, self.bn1.running_var,
                         self.training, 0.1, 1e-5, False)
    h = torch.relu(h)
    return torch.matmul(h, self.fc2.weight.t()) + self.fc2.bias
)");
    module.save(path);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("saving TorchScript model to ",
                                            path, ": ", DescribeTorchError(e)));
  }
}

}  // namespace fedlearn
