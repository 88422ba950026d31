#include "common/models/scripted_model_builder.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/script.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/models/torch_model.h"

namespace fedlearn {

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

}  // namespace fedlearn
