// The round engine's typed configuration, and its validation.
//
// Validate() refuses any setting under which no round could ever be
// aggregated (e.g. min_updates above a fixed cohort size, secure aggregation
// with fewer than 3 clients per round, an encoding that overflows for the
// configured cohort) and reports it in the engine's own terms: the field
// names of this struct. The coordinator's TOML adapter
// (server/coordinator_config.cc) maps its keys onto these fields and adds
// the key names and file to the message. A plain value type;
// thread-compatible.
#ifndef FEDLEARN_SERVER_ROUND_ROUND_ENGINE_CONFIG_H_
#define FEDLEARN_SERVER_ROUND_ROUND_ENGINE_CONFIG_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "common/config/training_config.h"
#include "common/util/clock.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "server/round/dp_planner.h"
#include "server/round/federated_evaluation.h"
#include "server/round/robust_aggregation_config.h"
#include "server/round/secagg_round_config.h"
#include "server/strategy/server_optimizer_config.h"
#include "server/strategy/server_optimizer_state.h"

namespace fedlearn {

struct RoundEngineConfig {
  std::string run_id = "run";
  int num_rounds = 10;
  // Registered, live clients needed before a round starts.
  int min_clients = 2;
  // Clients sampled per round: a count if > 0, else `fraction` of live ones.
  int clients_per_round = 0;
  double fraction = 1.0;
  // Accepted updates needed to aggregate a round.
  int min_updates = 1;
  Duration round_timeout{std::chrono::minutes(5)};
  int max_round_attempts = 3;
  // A client not heard from for this long is not sampled.
  Duration client_liveness{std::chrono::minutes(2)};
  uint64_t seed = 0;
  TrainingConfig training;
  // Upper bound on the example count (FedAvg weight) one client may claim.
  uint64_t max_examples_per_update = 10'000'000;
  // Largest L2 norm of one plaintext update (a delta) the engine accepts;
  // a larger one is refused (InvalidArgument) and counts as its client's
  // answer. It bounds every value too (|x_i| <= ||x||), so no update can
  // push the float32 average out of range. The default is ~1000x what real
  // training produces (docs/security.md "Update bounds").
  double max_update_l2_norm = 1e4;
  // global += server_learning_rate * weighted mean of deltas.
  double server_learning_rate = 1.0;
  // Hint sent to clients with nothing to do.
  uint32_t poll_interval_ms = 200;
  size_t max_registered_clients = 100'000;
  // Secure aggregation (on by default): the coordinator learns only the sum.
  // Without DP each round encodes with ChooseCohortEncoding()
  // (common/secagg/input_encoding.h): secagg.quantization_bits is a floor
  // and secagg.max_weight a cap on the round's max_weight.
  SecAggRoundConfig secagg;
  // Secure rounds without DP: what to do when the decoded mean's worst-case
  // relative quantization error (QuantizationErrorBound::max_relative_error)
  // exceeds `max_relative_error` (0 disables): warn, or fail the attempt
  // (retried like any failed attempt).
  struct SecAggErrorPolicy {
    double max_relative_error = 0.01;
    bool fail = false;
  };
  SecAggErrorPolicy secagg_error;
  // Differential privacy (off by default). When on, clients are sampled by
  // Poisson sampling at dp.sampling_rate (clients_per_round and fraction are
  // ignored) and every update has weight 1 (DP-FedAvg).
  DpConfig dp;
  // How a plaintext round aggregates: weighted FedAvg (kMean), or a robust
  // rule that keeps every update (robust_aggregation_config.h; refused
  // with secure aggregation and with DP).
  RobustAggregationConfig robust;
  // Restored privacy ledger and clip norm when resuming a run.
  DpState dp_state;
  // The server optimizer that turns each round's mean delta into the next
  // model (server/strategy/server_optimizer.h; FedAvg by default), and its
  // restored state when resuming a run (nullopt: fresh, zero moments).
  ServerOptimizerConfig strategy;
  std::optional<ServerOptimizerState> strategy_state;
  // The run's contract (model definition, data schema), handed to every
  // client before it registers; run_id is filled in by the engine.
  v1::RunContract contract;
  // A second process registering with an identity whose session was heard
  // from within this window is refused (two processes sharing a
  // certificate); after it, the new session takes over (a restarted client).
  Duration session_takeover{std::chrono::seconds(15)};
  // Federated evaluation on the sites' held-out splits (off by default;
  // server/round/federated_evaluation.h). When on, `contract` carries the
  // EvaluationSpec that fixes the report's layout.
  FederatedEvaluationConfig evaluation;

  absl::Status Validate() const;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_ROUND_ENGINE_CONFIG_H_
