// TorchModel's pre-trained base and parameter freezing (torch_model.h,
// "Freezing"): loading ModelSource::initial_weights, selecting the
// trainable parameters and digesting the frozen ones.
#include <torch/types.h>
#include <torch/utils.h>

#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/models/lora_merge.h"
#include "common/models/model_weights.h"
#include "common/models/parameter_selection.h"
#include "common/models/torch_model.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

std::vector<int64_t> SizesOf(const torch::Tensor& t) {
  return std::vector<int64_t>(t.sizes().begin(), t.sizes().end());
}

std::vector<float> ValuesOf(const torch::Tensor& t) {
  const torch::Tensor dense = t.detach().to(torch::kFloat32).contiguous();
  const float* p = dense.data_ptr<float>();
  return std::vector<float>(p, p + dense.numel());
}

// "bn1.running_mean" -> "bn1"; a top-level name belongs to the root "".
std::string ModuleOf(const std::string& tensor_name) {
  const size_t dot = tensor_name.rfind('.');
  return dot == std::string::npos ? "" : tensor_name.substr(0, dot);
}

// Copies the file's values into `targets` (matched by MatchWeights).
void CopyMatched(const std::vector<NamedTensor>& file,
                 const std::vector<int>& match,
                 std::vector<torch::Tensor>& targets) {
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < targets.size(); ++k) {
    if (match[k] < 0) continue;
    std::vector<float> values = file[match[k]].values;
    targets[k].copy_(
        torch::from_blob(values.data(), targets[k].sizes(), torch::kFloat32));
  }
}

// Loads `path` over `params` (named by the first entries of `spec`) and the
// float `buffers`: every parameter, the buffers too when they federate
// (optional when they stay local: absent ones keep the module's initial
// statistics).
absl::Status LoadWeights(const std::string& path, const ModelSpec& spec,
                         std::vector<torch::Tensor> params,
                         const std::vector<std::string>& buffer_names,
                         const std::vector<torch::Tensor>& buffers,
                         BufferPolicy policy) {
  std::vector<ExpectedTensor> expected;
  for (size_t i = 0; i < params.size(); ++i) {
    // LoRA adapters a base file lacks keep their initialisation (B = 0).
    expected.push_back({spec.tensors[i].name, SizesOf(params[i]),
                        !IsLoraAdapterName(spec.tensors[i].name)});
  }
  for (size_t j = 0; j < buffers.size(); ++j) {
    expected.push_back({buffer_names[j], SizesOf(buffers[j]),
                        policy == BufferPolicy::kFederated});
    params.push_back(buffers[j]);
  }
  ASSIGN_OR_RETURN(std::vector<NamedTensor> file, ReadWeightsFile(path));
  ASSIGN_OR_RETURN(std::vector<int> match,
                   MatchWeights(file, expected, path, spec.architecture));
  CopyMatched(file, match, params);
  return absl::OkStatus();
}

// Per buffer, the module it freezes with ("" when it does not): a module
// whose parameters are all frozen freezes its buffers too. Root-level
// buffers never freeze: eval mode for the root would switch the model.
std::vector<std::string> FrozenBufferModules(
    const std::vector<std::string>& param_names,
    const std::vector<bool>& trains,
    const std::vector<std::string>& buffer_names) {
  std::map<std::string, std::pair<int, int>> counts;  // module: all, frozen
  for (size_t i = 0; i < param_names.size(); ++i) {
    auto& [all, frozen] = counts[ModuleOf(param_names[i])];
    ++all;
    if (!trains[i]) ++frozen;
  }
  std::vector<std::string> out;
  for (const std::string& name : buffer_names) {
    auto it = counts.find(ModuleOf(name));
    const bool frozen = it != counts.end() && !it->first.empty() &&
                        it->second.first == it->second.second;
    out.push_back(frozen ? it->first : "");
  }
  return out;
}

// The frozen tensors as FrozenBaseSha256 reads them, copied when added.
class FrozenTensors {
 public:
  void Add(const TensorSpec& spec, const torch::Tensor& tensor) {
    specs_.push_back(spec);
    values_.push_back(ValuesOf(tensor));
  }
  std::string Sha256() const {
    std::vector<TensorBytesView> views;
    for (size_t k = 0; k < specs_.size(); ++k) {
      views.push_back({specs_[k].name, specs_[k].shape, values_[k]});
    }
    return FrozenBaseSha256(views);
  }

 private:
  std::vector<TensorSpec> specs_;
  std::vector<std::vector<float>> values_;
};

// The model's tensors split by `trains` (per parameter) and
// `buffer_modules` (per buffer, FrozenBufferModules): the trainable spec and
// tensors, the whole model, and the frozen tensors, whose parameters lose
// requires_grad.
struct Split {
  ModelSpec spec, full;
  std::vector<torch::Tensor> params, buffers, full_tensors;
  std::vector<std::string> buffer_names, frozen_modules;
  FrozenTensors frozen;
};

Split SplitFrozen(const ModelSpec& spec,
                  const std::vector<torch::Tensor>& params,
                  const std::vector<std::string>& buffer_names,
                  const std::vector<torch::Tensor>& buffers,
                  BufferPolicy policy, const std::vector<bool>& trains,
                  const std::vector<std::string>& buffer_modules) {
  Split out;
  out.spec.architecture = out.full.architecture = spec.architecture;
  for (size_t i = 0; i < params.size(); ++i) {
    const TensorSpec& t = spec.tensors[i];
    out.full.tensors.push_back(t);
    out.full_tensors.push_back(params[i]);
    if (trains[i]) {
      out.spec.tensors.push_back(t);
      out.params.push_back(params[i]);
    } else {
      torch::Tensor frozen = params[i];
      frozen.requires_grad_(false);
      out.frozen.Add(t, frozen);
    }
  }
  const bool federated = policy == BufferPolicy::kFederated;
  for (size_t j = 0; j < buffers.size(); ++j) {
    const TensorSpec t{buffer_names[j], SizesOf(buffers[j]), DType::kFloat32,
                       TensorKind::kBuffer};
    const bool frozen = !buffer_modules[j].empty();
    if (frozen || federated) {
      out.full.tensors.push_back(t);
      out.full_tensors.push_back(buffers[j]);
    }
    if (frozen) {
      out.frozen.Add(t, buffers[j]);
      if (out.frozen_modules.empty() ||
          out.frozen_modules.back() != buffer_modules[j]) {
        out.frozen_modules.push_back(buffer_modules[j]);
      }
      continue;
    }
    if (federated) out.spec.tensors.push_back(t);
    out.buffers.push_back(buffers[j]);
    out.buffer_names.push_back(buffer_names[j]);
  }
  return out;
}

}  // namespace

absl::Status TorchModel::ApplyBaseAndSelection(const ModelSource& source) {
  const bool own_weights =
      source.initial_weights.empty() || source.initial_weights == "torchscript";
  if (source.initial_weights == "torchscript" &&
      spec_.architecture != "torchscript") {
    return absl::InvalidArgumentError(
        "initial_weights = \"torchscript\" (the module's own weights) needs "
        "architecture = \"torchscript\"");
  }
  if (!own_weights) {
    RETURN_IF_ERROR(LoadWeights(source.initial_weights, spec_, params_,
                                buffer_names_, buffers_, buffer_policy_));
  }
  // With LoRA adapters on, they train (and what `trainable` adds).
  std::vector<std::string> trainable = source.trainable;
  if (source.lora.enabled()) {
    ASSIGN_OR_RETURN(trainable,
                     LoraTrainablePatterns(source.trainable, source.frozen));
  }
  if (!HasParameterSelection(trainable, source.frozen)) {
    return absl::OkStatus();
  }
  if (own_weights && spec_.architecture != "torchscript") {
    return absl::FailedPreconditionError(absl::StrCat(
        "freezing parameters of a ", spec_.architecture,
        " model needs its pre-trained weights (initial_weights): frozen values "
        "drawn from a seed would not be a base every site shares"));
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < params_.size(); ++i) {
    names.push_back(spec_.tensors[i].name);
  }
  ASSIGN_OR_RETURN(std::vector<bool> trains,
                   SelectTrainable(names, trainable, source.frozen));
  const std::vector<std::string> buffer_modules =
      FrozenBufferModules(names, trains, buffer_names_);
  Split split = SplitFrozen(spec_, params_, buffer_names_, buffers_,
                            buffer_policy_, trains, buffer_modules);
  const std::string digest = split.frozen.Sha256();
  if (!source.base_weights_sha256.empty() &&
      source.base_weights_sha256 != digest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the frozen base weights here (",
        own_weights ? "the TorchScript file's own" : source.initial_weights,
        ") differ from the run's: their SHA-256 is ", digest,
        ", the run's contract requires ",
        EscapeUntrusted(source.base_weights_sha256, 64),
        "; use the same pre-trained weights file as the coordinator"));
  }
  spec_ = std::move(split.spec);
  full_spec_ = std::move(split.full);
  params_ = std::move(split.params);
  buffers_ = std::move(split.buffers);
  buffer_names_ = std::move(split.buffer_names);
  full_tensors_ = std::move(split.full_tensors);
  frozen_modules_ = std::move(split.frozen_modules);
  frozen_sha256_ = digest;
  return absl::OkStatus();
}

void TorchModel::KeepFrozenModulesInEval() {
  for (const std::string& module : frozen_modules_) {
    SetModuleTraining(module, false);
  }
}

FlatModel TorchModel::ToFullModel() const {
  FlatModel out{full_spec_, FlatVector(full_spec_.NumElements())};
  float* dst = out.values.data();
  for (const torch::Tensor& t : full_tensors_) {
    const std::vector<float> values = ValuesOf(t);
    std::memcpy(dst, values.data(), values.size() * sizeof(float));
    dst += values.size();
  }
  return out;
}

}  // namespace fedlearn
