#include "common/models/lora_linear.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fedlearn {
namespace {

// Keeps the adapters' draws apart from the base layers' (which use `seed`
// itself), so adding adapters leaves the base initialisation unchanged.
constexpr uint64_t kAdapterSeedSalt = 0x4c6f5241'41646170ULL;  // "LoRAAdap"

bool Glob(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

}  // namespace

LoraLinearImpl::LoraLinearImpl(const torch::nn::Linear& base, int64_t rank,
                               double alpha, at::Generator& gen)
    : scaling_(alpha / static_cast<double>(rank)) {
  const int64_t in = base->weight.size(1);
  const int64_t out = base->weight.size(0);
  weight_ = register_parameter("weight", base->weight);
  if (base->bias.defined()) bias_ = register_parameter("bias", base->bias);
  torch::NoGradGuard no_grad;
  // kaiming_uniform_(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound
  // gain * sqrt(3 / fan_in) = 1 / sqrt(in), as loralib's reset_parameters.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  lora_a_ = register_parameter(
      "lora_A", torch::empty({rank, in}).uniform_(-bound, bound, gen));
  lora_b_ = register_parameter("lora_B", torch::zeros({out, rank}));
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::nn::functional::linear(x, weight_, bias_);
  return y +
         torch::matmul(torch::matmul(x, lora_a_.t()), lora_b_.t()) * scaling_;
}

bool IsLoraTarget(const LoraConfig& lora, const std::string& module_name) {
  if (lora.targets.empty()) return true;
  return std::any_of(lora.targets.begin(), lora.targets.end(),
                     [&module_name](const std::string& pattern) {
                       return Glob(pattern, module_name) ||
                              Glob(pattern, module_name + ".weight");
                     });
}

absl::StatusOr<torch::nn::Sequential> AddLoraAdapters(
    torch::nn::Sequential net, const LoraConfig& lora, uint64_t seed,
    const std::string& architecture) {
  if (!lora.enabled() || !std::isfinite(lora.alpha) || lora.alpha <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LoRA needs lora_rank >= 1 and lora_alpha > 0, got rank ",
                     lora.rank, " and alpha ", lora.alpha));
  }
  at::Generator gen =
      at::make_generator<at::CPUGeneratorImpl>(seed ^ kAdapterSeedSalt);
  const int64_t rank = lora.rank;
  torch::nn::Sequential adapted;
  std::vector<std::string> linear_names;
  int matched = 0;
  const auto children = net->named_children();
  size_t i = 0;
  for (const torch::nn::AnyModule& child : *net) {
    const std::string& name = children[i++].key();
    auto* linear = child.ptr()->as<torch::nn::Linear>();
    if (linear == nullptr) {
      adapted->push_back(name, torch::nn::AnyModule(child));
      continue;
    }
    linear_names.push_back(name);
    if (!IsLoraTarget(lora, name)) {
      adapted->push_back(name, torch::nn::AnyModule(child));
      continue;
    }
    const int64_t in = linear->weight.size(1);
    const int64_t out = linear->weight.size(0);
    if (rank > std::min(in, out)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "lora_rank ", rank, " exceeds min(in, out) = ", std::min(in, out),
          " of ", architecture, " layer ", name, " [", out, "x", in, "]"));
    }
    LoraLinear layer(torch::nn::Linear(child.ptr<torch::nn::LinearImpl>()),
                     rank, lora.alpha, gen);
    adapted->push_back(name, torch::nn::AnyModule(layer));
    ++matched;
  }
  if (matched == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("lora_targets [", absl::StrJoin(lora.targets, ", "),
                     "] match none of ", architecture, "'s linear layers (",
                     absl::StrJoin(linear_names, ", "), ")"));
  }
  return adapted;
}

}  // namespace fedlearn
