// The federated-evaluation keys of the coordinator's [evaluation] section
// (every, final, holdout_fraction, split_seed, score_bins, accuracy_bins,
// loss_bins, max_loss, accuracy_threshold, group_column, groups, per_site,
// max_examples), declared once here and added to CoordinatorConfigSchema()
// by coordinator_config_schema.cc next to the section's server-side test
// set keys. Off by default (every = 0): the contract then carries no
// EvaluationSpec and nothing changes for existing runs.
//
// ValidateFederatedEvaluation refuses, naming the keys: federated
// evaluation with DP (each site's metrics would be released outside the
// privacy accountant), ranges the report layout cannot take, groups without
// a tabular [data] contract or a group column, and (secure aggregation
// with a fixed cohort) a report the masked vector cannot carry.
// Thread-safety: pure functions.
#ifndef FEDLEARN_SERVER_COORDINATOR_CONFIG_EVALUATION_H_
#define FEDLEARN_SERVER_COORDINATOR_CONFIG_EVALUATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/config/config_schema.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

struct CoordinatorConfig;

// The contract's EvaluationSpec as the [evaluation] keys give it.
struct FederatedEvalSpecConfig {
  double holdout_fraction = 0.1;
  uint64_t split_seed = 0;  // 0: the run's seed (run.seed)
  int score_bins = 100;
  int accuracy_bins = 100;
  int loss_bins = 100;
  double max_loss = 10.0;
  double accuracy_threshold = 0.5;
  std::string group_column;
  std::vector<std::string> groups;
};

void AddFederatedEvaluationKeys(ConfigSchema<CoordinatorConfig>& schema);

// InvalidArgument naming the keys to change (see above).
absl::Status ValidateFederatedEvaluation(const CoordinatorConfig& c);

// The EvaluationSpec for the run's contract (split_seed 0 -> run.seed).
v1::EvaluationSpec ToEvaluationSpec(const CoordinatorConfig& c);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_CONFIG_EVALUATION_H_
