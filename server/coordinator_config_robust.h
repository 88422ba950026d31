// The robust-aggregation keys of the coordinator's [strategy] section
// (aggregator, trim_fraction, krum_byzantine, multi_krum_selected,
// robust_max_memory_mb): the fields of RobustAggregationConfig
// (server/round/robust_aggregation_config.h), declared once here and added
// to CoordinatorConfigSchema() by coordinator_config_schema.cc, next to the
// server-optimizer keys of the same section. Their cross-key rules (refused
// with secure aggregation or DP, cohort size, parameters) are
// RobustAggregationConfig::Validate, whose messages name these keys.
// training.proximal_mu (FedProx) is declared with [training]; its range is
// checked here too.
#ifndef FEDLEARN_SERVER_COORDINATOR_CONFIG_ROBUST_H_
#define FEDLEARN_SERVER_COORDINATOR_CONFIG_ROBUST_H_

#include "absl/status/status.h"
#include "common/config/config_schema.h"

namespace fedlearn {

struct CoordinatorConfig;

void AddRobustAggregationKeys(ConfigSchema<CoordinatorConfig>& schema);

// InvalidArgument naming the keys to change: RobustAggregationConfig::
// Validate for the configured cohort, secure aggregation and DP, and
// training.proximal_mu (FedProx) finite and >= 0.
absl::Status ValidateRobustAggregationAndProx(const CoordinatorConfig& c);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_CONFIG_ROBUST_H_
