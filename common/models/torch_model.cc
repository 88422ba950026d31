#include "common/models/torch_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/models/lora_linear.h"
#include "common/models/model_factory.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

std::string ShapeString(c10::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// PyTorch's default Linear/Conv initialisation (kaiming_uniform with
// a = sqrt(5) for the weight), drawn from `gen` instead of the global RNG.
void InitLayer(torch::Tensor& weight, torch::Tensor& bias, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(weight.numel() / weight.size(0));
  weight.uniform_(-bound, bound, gen);
  bias.uniform_(-bound, bound, gen);
}

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// The floating-point buffers among `buffers` (named_buffers() order), the
// ones a BufferPolicy applies to; integer and bool buffers such as
// num_batches_tracked are left out. Under kFederated they must be float32
// to fit the flat vector.
absl::StatusOr<NamedTensors> SelectFloatBuffers(NamedTensors buffers,
                                                BufferPolicy policy,
                                                const std::string& where) {
  NamedTensors out;
  for (auto& [name, tensor] : buffers) {
    if (!c10::isFloatingType(tensor.scalar_type())) continue;
    if (policy == BufferPolicy::kFederated &&
        tensor.scalar_type() != torch::kFloat32) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": buffer ", name, " is ", c10::toString(tensor.scalar_type()),
          "; only float32 buffers can be federated (convert it to float32, "
          "or keep buffers local with buffers = \"local\")"));
    }
    out.emplace_back(std::move(name), std::move(tensor));
  }
  return out;
}

class ZooModel : public TorchModel {
 public:
  ZooModel(std::string architecture, torch::nn::Sequential net,
           NamedTensors float_buffers, BufferPolicy policy)
      : TorchModel(std::move(architecture), Named(net->named_parameters()),
                   std::move(float_buffers), policy),
        net_(std::move(net)) {}

  static NamedTensors Named(
      const torch::OrderedDict<std::string, torch::Tensor>& dict) {
    NamedTensors out;
    for (const auto& item : dict) out.emplace_back(item.key(), item.value());
    return out;
  }

  torch::Tensor Forward(const torch::Tensor& x) override {
    return net_->forward(x);
  }
  void SetTraining(bool training) override {
    net_->train(training);
    if (training) KeepFrozenModulesInEval();
  }
  void SetModuleTraining(const std::string& module, bool training) override {
    for (const auto& item : net_->named_modules()) {
      if (item.key() == module) item.value()->train(training);
    }
  }
  torch::nn::Module* ZooNetwork() override { return net_.ptr().get(); }

 private:
  torch::nn::Sequential net_;
};

class ScriptedModel : public TorchModel {
 public:
  ScriptedModel(torch::jit::Module module, NamedTensors named_params,
                NamedTensors float_buffers, BufferPolicy policy)
      : TorchModel("torchscript", std::move(named_params),
                   std::move(float_buffers), policy),
        module_(std::move(module)) {}

  torch::Tensor Forward(const torch::Tensor& x) override {
    return module_.forward({x}).toTensor();
  }
  void SetTraining(bool training) override {
    module_.train(training);
    if (training) KeepFrozenModulesInEval();
  }
  void SetModuleTraining(const std::string& module, bool training) override {
    for (auto item : module_.named_modules()) {
      if (item.name == module) item.value.train(training);
    }
  }

 private:
  torch::jit::Module module_;
};

// Builds the zoo network for `source`; layer names become the spec's tensor
// name prefixes ("fc1.weight").
absl::StatusOr<torch::nn::Sequential> BuildZooNet(const ModelSource& source,
                                                  at::Generator& gen) {
  namespace nn = torch::nn;
  const std::vector<int64_t>& shape = source.input_shape;
  int64_t input_numel = 1;
  for (int64_t d : shape) input_numel *= d;

  auto linear = [&gen](int64_t in, int64_t out) {
    nn::Linear layer(in, out);
    InitLayer(layer->weight, layer->bias, gen);
    return layer;
  };
  auto conv = [&gen](nn::Conv2dOptions options) {
    nn::Conv2d layer(options);
    InitLayer(layer->weight, layer->bias, gen);
    return layer;
  };

  nn::Sequential net;
  const std::string& arch = source.architecture;
  if (arch == "logreg") {
    net->push_back("flatten", nn::Flatten());
    net->push_back("linear", linear(input_numel, source.num_classes));
  } else if (arch == "mlp" || arch == "mlp-bn") {
    if (source.hidden_units <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          arch, " needs hidden_units > 0, got ", source.hidden_units));
    }
    net->push_back("flatten", nn::Flatten());
    net->push_back("fc1", linear(input_numel, source.hidden_units));
    if (arch == "mlp-bn") {
      // Ioffe & Szegedy 2015, between the affine layer and the nonlinearity;
      // momentum 0.1 and eps 1e-5 as in PyTorch. Draws nothing from `gen`,
      // so fc1/fc2 start as in "mlp" with the same seed.
      net->push_back("bn1", nn::BatchNorm1d(source.hidden_units));
    }
    net->push_back("relu", nn::ReLU());
    net->push_back("fc2", linear(source.hidden_units, source.num_classes));
  } else if (arch == "lenet5") {
    if (shape.size() != 3 || shape[1] != 28 || shape[2] != 28) {
      return absl::InvalidArgumentError(absl::StrCat(
          "lenet5 needs input_shape {C,28,28}, got ", ShapeString(shape)));
    }
    // LeCun et al. 1998, with ReLU and max-pooling as is customary today;
    // padding 2 lets a 28x28 input play the role of the original 32x32.
    net->push_back("conv1", conv(nn::Conv2dOptions(shape[0], 6, 5).padding(2)));
    net->push_back("relu1", nn::ReLU());
    net->push_back("pool1", nn::MaxPool2d(nn::MaxPool2dOptions(2)));
    net->push_back("conv2", conv(nn::Conv2dOptions(6, 16, 5)));
    net->push_back("relu2", nn::ReLU());
    net->push_back("pool2", nn::MaxPool2d(nn::MaxPool2dOptions(2)));
    net->push_back("flatten", nn::Flatten());
    net->push_back("fc1", linear(16 * 5 * 5, 120));
    net->push_back("relu3", nn::ReLU());
    net->push_back("fc2", linear(120, 84));
    net->push_back("relu4", nn::ReLU());
    net->push_back("fc3", linear(84, source.num_classes));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown architecture '", arch,
        "' (expected logreg, mlp, mlp-bn, lenet5 or torchscript)"));
  }
  return net;
}

absl::StatusOr<std::unique_ptr<TorchModel>> LoadScripted(
    const std::string& path, BufferPolicy policy) {
  if (path.empty()) {
    return absl::InvalidArgumentError("torchscript needs torchscript_path");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("TorchScript file not found: ", path));
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        " is not a loadable TorchScript archive: ", DescribeTorchError(e)));
  }
  NamedTensors named;
  for (const auto& param : module.named_parameters()) {
    if (param.value.scalar_type() != torch::kFloat32) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": parameter ", param.name, " is ",
                       c10::toString(param.value.scalar_type()),
                       "; only float32 parameters are supported"));
    }
    param.value.requires_grad_(true);
    named.emplace_back(param.name, param.value);
  }
  if (named.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": TorchScript module has no parameters"));
  }
  NamedTensors buffers;
  for (const auto& buffer : module.named_buffers()) {
    buffers.emplace_back(buffer.name, buffer.value);
  }
  ASSIGN_OR_RETURN(NamedTensors float_buffers,
                   SelectFloatBuffers(std::move(buffers), policy, path));
  return std::make_unique<ScriptedModel>(std::move(module), std::move(named),
                                         std::move(float_buffers), policy);
}

}  // namespace

TorchModel::TorchModel(std::string architecture, NamedTensors named_params,
                       NamedTensors float_buffers, BufferPolicy policy)
    : buffer_policy_(policy) {
  spec_.architecture = std::move(architecture);
  auto add_to_spec = [this](const std::string& name,
                            const torch::Tensor& tensor, TensorKind kind) {
    spec_.tensors.push_back(
        {name,
         std::vector<int64_t>(tensor.sizes().begin(), tensor.sizes().end()),
         DType::kFloat32, kind});
  };
  for (auto& [name, tensor] : named_params) {
    add_to_spec(name, tensor, TensorKind::kParameter);
    params_.push_back(std::move(tensor));
  }
  for (auto& [name, tensor] : float_buffers) {
    if (policy == BufferPolicy::kFederated) {
      add_to_spec(name, tensor, TensorKind::kBuffer);
    }
    buffer_names_.push_back(name);
    buffers_.push_back(std::move(tensor));
  }
  full_spec_ = spec_;
  full_tensors_ = params_;
  if (policy == BufferPolicy::kFederated) {
    full_tensors_.insert(full_tensors_.end(), buffers_.begin(), buffers_.end());
  }
}

absl::StatusOr<std::unique_ptr<TorchModel>> TorchModel::Create(
    const ModelSource& source, uint64_t seed) {
  try {
    if (source.architecture == "torchscript") {
      if (source.lora.enabled()) {
        return absl::InvalidArgumentError(
            "lora_rank applies to zoo models; a TorchScript module carries "
            "its own adapters (examples/finetune/make_lora_model.py)");
      }
      ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> scripted,
                       LoadScripted(source.torchscript_path, source.buffers));
      RETURN_IF_ERROR(scripted->ApplyBaseAndSelection(source));
      return scripted;
    }
    if (source.num_classes < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("num_classes must be >= 2, got ", source.num_classes));
    }
    if (source.input_shape.empty()) {
      return absl::InvalidArgumentError("input_shape is empty");
    }
    for (int64_t d : source.input_shape) {
      if (d <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("input_shape ", ShapeString(source.input_shape),
                         " has a non-positive dimension"));
      }
    }
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    ASSIGN_OR_RETURN(torch::nn::Sequential net, BuildZooNet(source, gen));
    if (source.lora.enabled()) {
      ASSIGN_OR_RETURN(net, AddLoraAdapters(std::move(net), source.lora, seed,
                                            source.architecture));
    }
    ASSIGN_OR_RETURN(NamedTensors float_buffers,
                     SelectFloatBuffers(ZooModel::Named(net->named_buffers()),
                                        source.buffers, source.architecture));
    std::unique_ptr<TorchModel> zoo =
        std::make_unique<ZooModel>(source.architecture, std::move(net),
                                   std::move(float_buffers), source.buffers);
    RETURN_IF_ERROR(zoo->ApplyBaseAndSelection(source));
    return zoo;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(
        "building ", source.architecture, " failed: ", DescribeTorchError(e)));
  }
}

absl::Status TorchModel::LoadFlat(const FlatVector& values) {
  const int64_t expected = spec_.NumElements();
  if (static_cast<int64_t>(values.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter vector has ", values.size(), " values; ",
                     spec_.architecture, " model expects ", expected));
  }
  torch::NoGradGuard no_grad;
  // from_blob does not write through the pointer; copy_ only reads it.
  float* src = const_cast<float*>(values.data());
  auto load = [&src](torch::Tensor& t) {
    t.copy_(torch::from_blob(src, t.sizes(), torch::kFloat32));
    src += t.numel();
  };
  for (torch::Tensor& p : params_) load(p);
  if (buffer_policy_ == BufferPolicy::kFederated) {
    for (torch::Tensor& b : buffers_) load(b);
  }
  return absl::OkStatus();
}

namespace {

// Appends `tensors`, converted to dense float32, at `dst`; returns the end.
float* CopyOut(const std::vector<torch::Tensor>& tensors, float* dst) {
  for (const torch::Tensor& t : tensors) {
    const torch::Tensor dense = t.detach().to(torch::kFloat32).contiguous();
    std::memcpy(dst, dense.data_ptr<float>(), dense.numel() * sizeof(float));
    dst += dense.numel();
  }
  return dst;
}

}  // namespace

FlatVector TorchModel::ToFlat() const {
  FlatVector out(spec_.NumElements());
  float* dst = CopyOut(params_, out.data());
  if (buffer_policy_ == BufferPolicy::kFederated) CopyOut(buffers_, dst);
  return out;
}

FlatVector TorchModel::BuffersToFlat() const {
  int64_t n = 0;
  for (const torch::Tensor& b : buffers_) n += b.numel();
  FlatVector out(n);
  CopyOut(buffers_, out.data());
  return out;
}

absl::Status TorchModel::LoadBuffers(const FlatVector& values) {
  int64_t n = 0;
  for (const torch::Tensor& b : buffers_) n += b.numel();
  if (static_cast<int64_t>(values.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("buffer vector has ", values.size(), " values; ",
                     spec_.architecture, " model has ", n));
  }
  torch::NoGradGuard no_grad;
  // from_blob does not write through the pointer; copy_ converts the dtype.
  float* src = const_cast<float*>(values.data());
  for (torch::Tensor& b : buffers_) {
    b.copy_(torch::from_blob(src, b.sizes(), torch::kFloat32));
    src += b.numel();
  }
  return absl::OkStatus();
}

absl::StatusOr<LabeledTensors> PrepareDataset(Dataset data, TorchModel& model) {
  const int64_t n = data.size();
  const int64_t numel = data.SampleNumel();
  if (n == 0) return absl::InvalidArgumentError("dataset is empty");
  if (static_cast<int64_t>(data.features.size()) != n * numel) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset has ", data.features.size(), " feature values; ",
                     n, " samples of shape ", ShapeString(data.sample_shape),
                     " need ", n * numel));
  }
  if (absl::Status s = CheckAllFinite(data.features); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset features: ", s.message()));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (data.labels[i] < 0 || data.labels[i] >= data.num_classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", data.labels[i], " of sample ", i,
                       " is outside [0, ", data.num_classes, ")"));
    }
  }
  try {
    std::vector<int64_t> sizes = {n};
    sizes.insert(sizes.end(), data.sample_shape.begin(),
                 data.sample_shape.end());
    // The tensor adopts the feature buffer instead of copying it.
    auto owned = std::make_shared<std::vector<float>>(std::move(data.features));
    LabeledTensors out;
    out.features = torch::from_blob(
        owned->data(), sizes, [owned](void*) {}, torch::kFloat32);
    out.labels = torch::empty({n}, torch::kInt64);
    std::copy(data.labels.begin(), data.labels.end(),
              out.labels.data_ptr<int64_t>());

    torch::NoGradGuard no_grad;
    model.SetTraining(false);
    const torch::Tensor logits = model.Forward(out.features.slice(0, 0, 1));
    if (logits.dim() != 2 || logits.size(0) != 1 ||
        logits.size(1) != data.num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          model.Spec().architecture, " maps one sample to an output of shape ",
          ShapeString(logits.sizes()), "; the dataset needs [1,",
          data.num_classes, "]"));
    }
    return out;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        model.Spec().architecture, " rejects samples of shape ",
        ShapeString(data.sample_shape), ": ", DescribeTorchError(e)));
  }
}

std::string DescribeTorchError(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

absl::StatusOr<FlatModel> CreateInitialModel(const ModelSource& source,
                                             uint64_t seed,
                                             std::string* frozen_base_sha256) {
  ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> model,
                   TorchModel::Create(source, seed));
  if (frozen_base_sha256 != nullptr) {
    *frozen_base_sha256 = model->FrozenBaseSha256();
  }
  return FlatModel{model->Spec(), model->ToFlat()};
}

}  // namespace fedlearn
