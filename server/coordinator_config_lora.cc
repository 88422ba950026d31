#include "server/coordinator_config_lora.h"

#include "server/coordinator_config.h"

namespace fedlearn {

void AddLoraModelKeys(ConfigSchema<CoordinatorConfig>& s) {
  s.Field(
       "model.lora_rank",
       "LoRA adapters of this rank on linear layers (zoo models); 0 = off",
       [](auto& c) -> auto& { return c.model.lora.rank; })
      .Within(0, 4096);
  s.Field(
       "model.lora_alpha", "LoRA scaling = lora_alpha / lora_rank",
       [](auto& c) -> auto& { return c.model.lora.alpha; })
      .Above(0);
  s.Field(
      "model.lora_targets",
      "globs over the linear layers LoRA adapts, e.g. [\"fc*\"]; [] = all",
      [](auto& c) -> auto& { return c.model.lora.targets; });
}

absl::Status ValidateLoraModel(const ModelSource& m) {
  if (!m.lora.enabled()) return absl::OkStatus();
  if (m.architecture == "torchscript") {
    return absl::InvalidArgumentError(
        "model.lora_rank applies to zoo models; a TorchScript module carries "
        "its own adapters (train them with model.trainable = "
        "[\"*.lora_A\", \"*.lora_B\"])");
  }
  if (!m.frozen.empty()) {
    return absl::InvalidArgumentError(
        "model.lora_rank freezes every parameter but the adapters: list "
        "others that should train in model.trainable, not model.frozen");
  }
  if (m.initial_weights.empty()) {
    return absl::InvalidArgumentError(
        "model.lora_rank needs model.initial_weights: the adapters fine-tune "
        "a pre-trained base every site holds a copy of");
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
