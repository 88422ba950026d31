// Durable run history in the coordinator's state directory:
//
//   <state>/models/round-000001.fmodel   the global model after each round
//   <state>/metrics.jsonl                one JSON object per completed round
//   <state>/checkpoint.json              the last completed round (atomic),
//                                        with the privacy ledger in DP runs
//
// Order of writes per round: model file (atomic), metrics line (fsync),
// checkpoint (atomic). A crash at any point leaves a checkpoint that names a
// complete model file, so a restarted coordinator resumes after the last
// round it fully recorded and redoes at most the round in flight.
#ifndef FEDLEARN_SERVER_RUN_STORE_H_
#define FEDLEARN_SERVER_RUN_STORE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/flat/flat_vector.h"
#include "server/round/round_types.h"

namespace fedlearn {

struct RunCheckpoint {
  std::string run_id;
  uint64_t completed_round = 0;
  FlatModel model;  // the global model after completed_round
  // Privacy ledger and clip norm after completed_round (DP runs only).
  std::optional<DpState> dp;
};

class FileRunStore : public RoundListener {
 public:
  // Creates the directory layout if needed.
  static absl::StatusOr<std::unique_ptr<FileRunStore>> Open(
      std::string state_dir);

  // NotFound-free: nullopt when the directory holds no checkpoint yet.
  // DataLoss if a checkpoint exists but its model file is missing or corrupt.
  absl::StatusOr<std::optional<RunCheckpoint>> LoadCheckpoint() const;

  // Writes the initial model as round 0 (so every run's lineage is on disk).
  absl::Status SaveInitialModel(const std::string& run_id,
                                const FlatModel& model);

  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override;

  std::string ModelPath(uint64_t round) const;
  std::string MetricsPath() const { return state_dir_ + "/metrics.jsonl"; }
  std::string CheckpointPath() const { return state_dir_ + "/checkpoint.json"; }

 private:
  explicit FileRunStore(std::string state_dir)
      : state_dir_(std::move(state_dir)) {}
  absl::Status WriteCheckpoint(const std::string& run_id, uint64_t round,
                               const DpState* dp = nullptr);

  const std::string state_dir_;
};

// One metrics line (JSON) for a completed round.
std::string RoundSummaryToJson(const RoundSummary& summary, int64_t unix_ms);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_RUN_STORE_H_
