#include "server/coordinator_config_pretrained.h"

#include <string>

#include "server/coordinator_config.h"

namespace fedlearn {

void AddPretrainedModelKeys(ConfigSchema<CoordinatorConfig>& s) {
  s.Field(
      "model.initial_weights",
      "pre-trained weights for the initial model: a model file (.fmodel)\n"
      "or safetensors; \"\" = from seed (zoo) or the TorchScript file's own",
      [](auto& c) -> auto& { return c.model.initial_weights; });
  s.Field(
      "model.trainable",
      "globs over parameter names that train, e.g. [\"fc3.*\"]; the others\n"
      "are frozen at initial_weights and never travel; [] = all train",
      [](auto& c) -> auto& { return c.model.trainable; });
  s.Field(
      "model.frozen",
      "globs over parameter names kept at initial_weights (instead of\n"
      "trainable); [] = none",
      [](auto& c) -> auto& { return c.model.frozen; });
}

absl::Status ValidatePretrainedModel(const ModelSource& m) {
  if (!m.trainable.empty() && !m.frozen.empty()) {
    return absl::InvalidArgumentError(
        "model.trainable and model.frozen: set one of them, not both");
  }
  for (const std::string& p : m.trainable.empty() ? m.frozen : m.trainable) {
    if (p.empty()) {
      return absl::InvalidArgumentError(
          "model.trainable / model.frozen hold an empty pattern");
    }
  }
  const bool zoo = m.architecture != "torchscript";
  if (zoo && m.initial_weights == "torchscript") {
    return absl::InvalidArgumentError(
        "model.initial_weights = \"torchscript\" needs architecture "
        "torchscript");
  }
  if (zoo && (!m.trainable.empty() || !m.frozen.empty()) &&
      m.initial_weights.empty()) {
    return absl::InvalidArgumentError(
        "model.trainable / model.frozen on a zoo model need "
        "model.initial_weights: the frozen part must be a pre-trained base "
        "every site holds a copy of");
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
