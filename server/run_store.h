// Durable run history in the coordinator's state directory:
//
//   <state>/models/round-000001.fmodel   the global model after each round
//   <state>/strategy/round-000001.fstate the server optimizer's state after
//                                        each round (stateful optimizers only;
//                                        server/strategy/server_optimizer_state.h)
//   <state>/metrics.jsonl                one JSON object per completed round
//   <state>/checkpoint.json              the last completed round (atomic),
//                                        with the privacy ledger in DP runs
//                                        and the optimizer state's file name
//                                        and SHA-256
//
// Order of writes per round: model file (atomic), optimizer state (atomic),
// metrics line (fsync), checkpoint (atomic). A crash at any point leaves a
// checkpoint that names a complete model file, so a restarted coordinator
// resumes after the last round it fully recorded and redoes at most the round
// in flight.
#ifndef FEDLEARN_SERVER_RUN_STORE_H_
#define FEDLEARN_SERVER_RUN_STORE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/flat/flat_vector.h"
#include "nlohmann/json.hpp"
#include "server/round/round_types.h"
#include "server/strategy/server_optimizer_state.h"

namespace fedlearn {

struct RunCheckpoint {
  std::string run_id;
  uint64_t completed_round = 0;
  FlatModel model;  // the global model after completed_round
  // Privacy ledger and clip norm after completed_round (DP runs only).
  std::optional<DpState> dp;
  // The server optimizer's state after completed_round (stateful
  // optimizers only; a FedAvg run, or a run before any round, has none).
  std::optional<ServerOptimizerState> strategy;
};

class FileRunStore : public RoundListener {
 public:
  // Creates the directory layout if needed.
  static absl::StatusOr<std::unique_ptr<FileRunStore>> Open(
      std::string state_dir);

  // NotFound-free: nullopt when the directory holds no checkpoint yet.
  // DataLoss if a checkpoint exists but its model file is missing or corrupt,
  // or it names an optimizer state file that is missing, corrupt, not the
  // one it names by digest, or of another run or round.
  absl::StatusOr<std::optional<RunCheckpoint>> LoadCheckpoint() const;

  // Writes the initial model as round 0 (so every run's lineage is on disk).
  absl::Status SaveInitialModel(const std::string& run_id,
                                const FlatModel& model);

  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override;

  std::string ModelPath(uint64_t round) const;
  std::string StrategyStatePath(uint64_t round) const;
  std::string MetricsPath() const { return state_dir_ + "/metrics.jsonl"; }
  std::string CheckpointPath() const { return state_dir_ + "/checkpoint.json"; }

 private:
  explicit FileRunStore(std::string state_dir)
      : state_dir_(std::move(state_dir)) {}
  // `strategy`: the optimizer state file's {"file", "sha256", ...} entry.
  absl::Status WriteCheckpoint(const std::string& run_id, uint64_t round,
                               const DpState* dp = nullptr,
                               const nlohmann::json* strategy = nullptr);
  // Writes the state file of `summary`'s round; returns its checkpoint
  // entry.
  absl::StatusOr<nlohmann::json> SaveStrategyState(
      const RoundSummary& summary) const;
  // Fills cp->strategy from the checkpoint's entry `j`, checked.
  absl::Status LoadStrategyState(const nlohmann::json& j,
                                 RunCheckpoint* cp) const;

  const std::string state_dir_;
};

// One metrics line (JSON) for a completed round.
std::string RoundSummaryToJson(const RoundSummary& summary, int64_t unix_ms);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_RUN_STORE_H_
