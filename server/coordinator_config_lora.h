// The LoRA keys of the coordinator's [model] section (lora_rank,
// lora_alpha, lora_targets; common/models/lora_linear.h): declared once here
// and added to CoordinatorConfigSchema() by coordinator_config_schema.cc
// after the pre-trained-weights keys. The targets are matched against the
// model's linear layers when it is built; the rules that need no model are
// checked here. Thread-safe (no state).
#ifndef FEDLEARN_SERVER_COORDINATOR_CONFIG_LORA_H_
#define FEDLEARN_SERVER_COORDINATOR_CONFIG_LORA_H_

#include "absl/status/status.h"
#include "common/config/config_schema.h"
#include "common/models/model_source.h"

namespace fedlearn {

struct CoordinatorConfig;

void AddLoraModelKeys(ConfigSchema<CoordinatorConfig>& schema);

// InvalidArgument naming the keys, with adapters on (lora_rank > 0): a
// TorchScript architecture (its module carries its own adapters), a frozen
// list (every parameter but the adapters is frozen), or no initial_weights
// (the adapters fine-tune a pre-trained base every site holds).
absl::Status ValidateLoraModel(const ModelSource& model);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_CONFIG_LORA_H_
