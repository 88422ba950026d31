// The coordinator's configuration: a TOML file (see deploy/coordinator.toml
// for every key with its default), overridable from the command line.
// Loading validates everything up front; a bad config is an error naming the
// key, never a surprise mid-run.
#ifndef FEDLEARN_SERVER_COORDINATOR_CONFIG_H_
#define FEDLEARN_SERVER_COORDINATOR_CONFIG_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/data/data_source.h"
#include "common/data/table_schema.h"
#include "common/models/model_source.h"
#include "common/transport/tls_config.h"
#include "server/round_engine.h"

namespace fedlearn {

struct SimulationConfig {
  int clients = 10;
  std::string partition = "dirichlet:0.5";
  int workers = 0;  // concurrent trainings; 0 = number of cores
  DataSourceConfig train_data{"fashion-mnist", "", "label"};
};

struct CoordinatorConfig {
  RoundEngineConfig engine;
  std::string listen = "127.0.0.1:7443";
  TlsConfig tls;
  std::string state_dir = "state";
  int max_concurrent_uploads = 4;
  ModelSource model;
  uint64_t model_seed = 1;
  // The run's data contract for tabular tasks ([data]); absent for image
  // datasets. When set, model.input_shape and num_classes follow from it.
  std::optional<TableSchema> data_schema;
  // Optional server-side test set.
  DataSourceConfig evaluation{"fashion-mnist", "", "label"};
  SimulationConfig simulation;
  std::string log_level = "info";
};

// Defaults suitable for the Fashion-MNIST demo.
CoordinatorConfig DefaultCoordinatorConfig();

// Reads and validates a TOML file on top of the defaults.
absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfig(
    const std::string& path);
absl::StatusOr<CoordinatorConfig> ParseCoordinatorConfig(
    const std::string& toml_text, const std::string& origin);
absl::Status ValidateCoordinatorConfig(const CoordinatorConfig& config);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_CONFIG_H_
