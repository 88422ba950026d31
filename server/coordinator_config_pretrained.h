// The pre-trained-weights and freezing keys of the coordinator's [model]
// section (initial_weights, trainable, frozen; docs/pretrained-weights.md):
// declared once here and added to CoordinatorConfigSchema() by
// coordinator_config_schema.cc after model.buffers. The patterns are matched
// against the model's parameter names when it is built
// (common/models/parameter_selection.h); the rules that need no model are
// checked here. Thread-safe (no state).
#ifndef FEDLEARN_SERVER_COORDINATOR_CONFIG_PRETRAINED_H_
#define FEDLEARN_SERVER_COORDINATOR_CONFIG_PRETRAINED_H_

#include "absl/status/status.h"
#include "common/config/config_schema.h"
#include "common/models/model_source.h"

namespace fedlearn {

struct CoordinatorConfig;

void AddPretrainedModelKeys(ConfigSchema<CoordinatorConfig>& schema);

// InvalidArgument naming the keys: trainable and frozen both set, an empty
// pattern, freezing a zoo model without initial_weights, or
// initial_weights = "torchscript" for a zoo architecture.
absl::Status ValidatePretrainedModel(const ModelSource& model);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_CONFIG_PRETRAINED_H_
