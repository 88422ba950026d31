// The coordinator's configuration: a TOML file whose every key is declared
// once, in CoordinatorConfigSchema() (type, default, doc, checks), overridable
// from the command line. deploy/coordinator.toml is that schema's printed
// reference (`fedlearn-coordinator --print-config`).
//
// Two steps, so that a program validates once, after its flags:
//   ParseCoordinatorConfig / LoadCoordinatorConfig read a file on top of the
//     defaults, refusing a syntax error, an unknown key, a wrong type and a
//     [data] section that contradicts [model]; they do not validate values.
//   ValidateCoordinatorConfig checks the finished config (file + flags): every
//     key's range and every cross-key rule, each error naming the TOML key to
//     change. The engines downstream assume it passed (REQUIRES) and report
//     their own errors in their own terms.
// Thread-safety: all functions are thread-safe (the schema is immutable).
#ifndef FEDLEARN_SERVER_COORDINATOR_CONFIG_H_
#define FEDLEARN_SERVER_COORDINATOR_CONFIG_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/config/config_schema.h"
#include "common/data/data_source.h"
#include "common/data/table_schema.h"
#include "common/models/model_source.h"
#include "common/transport/tls_config.h"
#include "server/admission/service_limits.h"
#include "server/coordinator_config_evaluation.h"
#include "server/identity/identity_config.h"
#include "server/round/round_engine_config.h"

namespace fedlearn {

struct SimulationConfig {
  int clients = 10;
  std::string partition = "dirichlet:0.5";
  int workers = 0;  // concurrent trainings; 0 = number of cores
  DataSourceConfig train_data = DataSourceOfKind("fashion-mnist");
  // fedlearn-sim --record-dp-*: every virtual site trains with record-level
  // DP-SGD (client/training/record_dp_trainer.h; off at noise 0), its
  // ledger in memory, its lots and noise seeded from the run's seed.
  double record_dp_noise_multiplier = 0;
  double record_dp_clip = 0;
  double record_dp_delta = 1e-5;
  double record_epsilon_budget = 0;
};

struct CoordinatorConfig {
  RoundEngineConfig engine;
  std::string listen = "127.0.0.1:7443";
  TlsConfig tls;
  // [security]: who may join (enrolment, revocation); see identity_config.h.
  IdentityConfig identity;
  std::string state_dir = "state";
  // [audit] path: the hash-chained audit log; "" = <state_dir>/audit.jsonl.
  std::string audit_path;
  // [metrics] listen: HOST:PORT of the Prometheus endpoint (/metrics,
  // /healthz, /readyz); "" = off. No TLS, no auth: keep it on loopback.
  std::string metrics_listen;
  // [metrics] linger_s: keep serving the endpoint this long after the run
  // ended (Coordinator::Run), so a scraper sees the final values.
  Duration metrics_linger{0};
  int max_concurrent_uploads = 4;
  // [limits]: streams, rates, sizes, deadlines of the gRPC service
  // (limits.max_concurrent_uploads comes from max_concurrent_uploads).
  ServiceLimits limits;
  ModelSource model;
  uint64_t model_seed = 1;
  // The run's data contract for tabular tasks ([data]); absent for image
  // datasets. When set, model.input_shape and num_classes follow from it.
  std::optional<TableSchema> data_schema;
  // Optional server-side test set.
  DataSourceConfig evaluation = DataSourceOfKind("fashion-mnist");
  // Federated evaluation's EvaluationSpec ([evaluation]; its schedule is
  // engine.evaluation). Used only when engine.evaluation.every > 0.
  FederatedEvalSpecConfig federated_eval_spec;
  SimulationConfig simulation;
  std::string log_level = "info";
  std::string log_format = "text";  // text | json (run.log_format)
};

// Defaults suitable for the Fashion-MNIST demo.
CoordinatorConfig DefaultCoordinatorConfig();

// Every key of the coordinator's (and fedlearn-sim's) TOML file.
const ConfigSchema<CoordinatorConfig>& CoordinatorConfigSchema();

// The commented reference: every key with its default (--print-config).
std::string CoordinatorConfigReference();

// `config` as a TOML file that ParseCoordinatorConfig reads back into the
// same config: every key's value (not the defaults), [data] included. The
// coordinator writes it to <state_dir>/run-config.toml at start.
std::string RenderCoordinatorConfig(const CoordinatorConfig& config);

// Reads a TOML file on top of the defaults (see above: not validated).
// InvalidArgument naming the file and key; NotFound for a missing file.
absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfig(
    const std::string& path);
// LoadCoordinatorConfig(path), or the defaults when `path` is empty (a
// program started without --config).
absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfigOrDefaults(
    const std::string& path);
absl::StatusOr<CoordinatorConfig> ParseCoordinatorConfig(
    const std::string& toml_text, const std::string& origin);

// InvalidArgument naming the TOML key(s) to change if `config` is not a
// runnable configuration. Call once, after the command line has been applied.
absl::Status ValidateCoordinatorConfig(const CoordinatorConfig& config);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_CONFIG_H_
