#include "common/wire/proto_conversion.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"

namespace fedlearn {

v1::ModelSpec ToProto(const ModelSpec& spec) {
  v1::ModelSpec proto;
  proto.set_architecture(spec.architecture);
  for (const TensorSpec& t : spec.tensors) {
    v1::TensorSpec* out = proto.add_tensors();
    out->set_name(t.name);
    for (int64_t d : t.shape) out->add_shape(d);
    out->set_dtype(v1::DTYPE_FLOAT32);
    out->set_kind(t.kind == TensorKind::kBuffer
                      ? v1::TensorSpec::KIND_BUFFER
                      : v1::TensorSpec::KIND_PARAMETER);
  }
  return proto;
}

absl::StatusOr<ModelSpec> FromProto(const v1::ModelSpec& proto) {
  ModelSpec spec;
  spec.architecture = proto.architecture();
  std::set<std::string> names;
  int64_t total = 0;
  for (const v1::TensorSpec& t : proto.tensors()) {
    if (t.name().empty()) {
      return absl::InvalidArgumentError(
          "model spec has a tensor without a name");
    }
    if (!names.insert(t.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("model spec names tensor '", t.name(), "' twice"));
    }
    if (t.dtype() != v1::DTYPE_FLOAT32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", t.name(), "' has unsupported dtype ",
          v1::DType_Name(t.dtype()), "; only float32 is supported"));
    }
    TensorSpec out;
    out.name = t.name();
    switch (t.kind()) {
      case v1::TensorSpec::KIND_PARAMETER:
        if (!spec.tensors.empty() &&
            spec.tensors.back().kind == TensorKind::kBuffer) {
          return absl::InvalidArgumentError(
              absl::StrCat("parameter '", t.name(),
                           "' follows a buffer; a model spec "
                           "lists all parameters before its buffers"));
        }
        out.kind = TensorKind::kParameter;
        break;
      case v1::TensorSpec::KIND_BUFFER:
        out.kind = TensorKind::kBuffer;
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", t.name(), "' has unknown kind ",
                         static_cast<int>(t.kind())));
    }
    int64_t numel = 1;
    for (int64_t d : t.shape()) {
      if (d <= 0 || d > kMaxModelValues) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", t.name(), "' has invalid dimension ", d));
      }
      numel *= d;
      if (numel > kMaxModelValues) break;
      out.shape.push_back(d);
    }
    total += numel;
    if (numel > kMaxModelValues || total > kMaxModelValues) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model spec exceeds the limit of ", kMaxModelValues, " values"));
    }
    spec.tensors.push_back(std::move(out));
  }
  if (spec.tensors.empty()) {
    return absl::InvalidArgumentError("model spec has no tensors");
  }
  return spec;
}

v1::TrainingConfig ToProto(const TrainingConfig& config) {
  v1::TrainingConfig proto;
  proto.set_optimizer(config.optimizer == TrainingConfig::Optimizer::kAdam
                          ? v1::TrainingConfig::ADAM
                          : v1::TrainingConfig::SGD);
  proto.set_learning_rate(config.learning_rate);
  proto.set_momentum(config.momentum);
  proto.set_weight_decay(config.weight_decay);
  proto.set_local_epochs(static_cast<uint32_t>(config.local_epochs));
  proto.set_batch_size(static_cast<uint32_t>(config.batch_size));
  proto.set_seed(config.seed);
  proto.set_proximal_mu(config.proximal_mu);
  proto.set_qffl_q(config.qffl_q);
  proto.set_qffl_lipschitz(config.qffl_lipschitz);
  return proto;
}

absl::StatusOr<TrainingConfig> FromProto(const v1::TrainingConfig& proto) {
  TrainingConfig config;
  switch (proto.optimizer()) {
    case v1::TrainingConfig::SGD:
      config.optimizer = TrainingConfig::Optimizer::kSgd;
      break;
    case v1::TrainingConfig::ADAM:
      config.optimizer = TrainingConfig::Optimizer::kAdam;
      break;
    default:
      return absl::InvalidArgumentError("training config names no optimizer");
  }
  if (!(proto.learning_rate() > 0) || !std::isfinite(proto.learning_rate())) {
    return absl::InvalidArgumentError(
        "learning rate must be positive and finite");
  }
  if (!(proto.momentum() >= 0) || !(proto.weight_decay() >= 0) ||
      !std::isfinite(proto.momentum()) ||
      !std::isfinite(proto.weight_decay())) {
    return absl::InvalidArgumentError(
        "momentum and weight decay must be non-negative and finite");
  }
  if (!(proto.proximal_mu() >= 0) || !std::isfinite(proto.proximal_mu())) {
    return absl::InvalidArgumentError(
        "proximal_mu (FedProx) must be non-negative and finite");
  }
  if (!(proto.qffl_q() >= 0) || !std::isfinite(proto.qffl_q()) ||
      !(proto.qffl_lipschitz() >= 0) ||
      !std::isfinite(proto.qffl_lipschitz())) {
    return absl::InvalidArgumentError(
        "qffl_q and qffl_lipschitz (q-FFL) must be non-negative and finite");
  }
  if (proto.local_epochs() == 0 || proto.local_epochs() > 1000) {
    return absl::InvalidArgumentError("local epochs must be in [1, 1000]");
  }
  if (proto.batch_size() == 0 || proto.batch_size() > 1'000'000) {
    return absl::InvalidArgumentError("batch size must be in [1, 1000000]");
  }
  config.learning_rate = proto.learning_rate();
  config.momentum = proto.momentum();
  config.weight_decay = proto.weight_decay();
  config.local_epochs = static_cast<int>(proto.local_epochs());
  config.batch_size = static_cast<int>(proto.batch_size());
  config.seed = proto.seed();
  config.proximal_mu = proto.proximal_mu();
  config.qffl_q = proto.qffl_q();
  config.qffl_lipschitz = proto.qffl_lipschitz();
  return config;
}

}  // namespace fedlearn
