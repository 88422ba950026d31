// Durable run history in the coordinator's state directory:
//
//   <state>/models/round-000001.fmodel   the global model after each round
//   <state>/strategy/round-000001.fstate the server optimizer's state after
//                                        each round (stateful optimizers only;
//                                        server/strategy/server_optimizer_state.h)
//   <state>/metrics.jsonl                one JSON object per committed round
//   <state>/evaluation.jsonl             one JSON object per evaluation-only
//                                        round (federated evaluation of the
//                                        final model, or the evaluation-only
//                                        job), appended durably
//   <state>/checkpoint.json              the last committed round (atomic):
//                                        its metrics record, the privacy
//                                        ledger in DP runs, and the optimizer
//                                        state's file name and SHA-256
//
// The checkpoint is the commit point. Per round (StoreStep, in order):
//   1. the model, atomically, as models/round-N.fmodel.staged (not yet a
//      model of the run: a staged file the checkpoint does not name is
//      removed on open);
//   2. the optimizer state (atomic), named and digested by step 3;
//   3. checkpoint.json (atomic) naming round N, with the privacy ledger
//      after N and N's metrics record: the round and its privacy charge are
//      recorded in one rename, before anything of the round is published;
//   4. rename of the staged model to models/round-N.fmodel;
//   5. the metrics line (one write(2), all or nothing; fsync).
// The engine hands out the next round's task only after OnRoundCompleted
// returned OK (RoundEngine::FinishRound), and the coordinator registers this
// store before every listener that publishes (audit, status, metrics).
//
// Guarantees after a crash or a failed write at any point, once the
// directory is reopened (Open repairs it, and says what it did in
// recovery_notes() and the log):
//  - a round is either committed (checkpoint) with its model file, its line
//    in metrics.jsonl and its ledger entry, or it left no trace and is
//    redone: a committed round is never redone, its model file is never
//    replaced, and no round is charged without being recorded or recorded
//    without being charged;
//  - steps 4-5 of the checkpoint's round are completed from what the
//    checkpoint holds (a missing metrics line is re-appended from it);
//  - uncommitted leftovers are removed: staged models, model and optimizer
//    files of rounds after the checkpoint (state directories written by
//    earlier versions, which wrote the model first), metrics lines after
//    the checkpoint's round, a torn last metrics line (no newline or not
//    JSON), and stale temporary files of the atomic writer (*.tmp.<pid>.<n>).
// An evaluation-only round is not a round of the model's history: it is one
// durable append to evaluation.jsonl (OnEvaluationCompleted), after the
// checkpoint of the model it evaluated. Open cuts a torn last line; an
// interrupted evaluation therefore left either its whole line or nothing,
// and HasFinalEvaluation tells a resumed run whether to redo it.
// Refuses (DataLoss) a metrics.jsonl with a corrupt line before its last.
// A failed write (e.g. a full disk) returns an error naming the file and
// leaves the last committed state as it was.
//
// Thread-safety: one store per directory and process; calls are not
// concurrent (the engine calls its listeners from one thread at a time).
#ifndef FEDLEARN_SERVER_RUN_STORE_H_
#define FEDLEARN_SERVER_RUN_STORE_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The durable steps of a round's write sequence, in order (see above).
enum class StoreStep {
  kStageModel,
  kWriteStrategy,
  kWriteCheckpoint,
  kPublishModel,
  kAppendMetrics,
  kAppendEvaluation,  // evaluation.jsonl (evaluation-only rounds)
};
const char* StoreStepName(StoreStep step);

struct FileRunStoreOptions {
  // TESTING ONLY (crash injection): called before each durable step, also
  // those Open's repair takes, with the file the step writes and, for
  // kAppendMetrics, the bytes it appends. A non-OK status is returned by
  // the call as if the step had failed, without doing it; a test that
  // emulates a crash drops the store and opens a fresh one.
  std::function<absl::Status(StoreStep step, const std::string& path,
                             std::string_view bytes)>
      before_step_for_testing;
};

class FileRunStore : public RoundListener {
 public:
  // Creates the directory layout if needed and repairs what an interrupted
  // coordinator left (see above). Errors if the repair cannot write, or
  // DataLoss if metrics.jsonl is corrupt before its last line.
  static absl::StatusOr<std::unique_ptr<FileRunStore>> Open(
      std::string state_dir, FileRunStoreOptions options = {});

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
  // One line in evaluation.jsonl (EvaluationSummaryToJson), durably.
  absl::Status OnEvaluationCompleted(
      const FederatedEvalSummary& summary) override;
  // Whether evaluation.jsonl records the final evaluation (not the job's)
  // of `run_id`'s model version `model_version`.
  absl::StatusOr<bool> HasFinalEvaluation(const std::string& run_id,
                                          uint64_t model_version) const;

  std::string ModelPath(uint64_t round) const;
  std::string StagedModelPath(uint64_t round) const;
  std::string StrategyStatePath(uint64_t round) const;
  std::string MetricsPath() const { return state_dir_ + "/metrics.jsonl"; }
  std::string EvaluationPath() const {
    return state_dir_ + "/evaluation.jsonl";
  }
  std::string CheckpointPath() const { return state_dir_ + "/checkpoint.json"; }
  // What Open repaired, one sentence each (also logged as warnings).
  const std::vector<std::string>& recovery_notes() const {
    return recovery_notes_;
  }

 private:
  FileRunStore(std::string state_dir, FileRunStoreOptions options)
      : state_dir_(std::move(state_dir)), options_(std::move(options)) {}
  // The test hook's verdict on `step` (OK without a hook).
  absl::Status BeforeStep(StoreStep step, const std::string& path,
                          std::string_view bytes = {}) const;
  // `strategy`: the optimizer state file's {"file", "sha256", ...} entry;
  // `metrics`: the round's metrics record.
  absl::Status WriteCheckpoint(const std::string& run_id, uint64_t round,
                               const DpState* dp = nullptr,
                               const nlohmann::json* strategy = nullptr,
                               const nlohmann::json* metrics = nullptr);
  // Steps 1-3 of `summary`'s round.
  absl::Status StageAndCommit(const RoundSummary& summary,
                              const FlatModel& global,
                              const nlohmann::json& record);
  // After a failure in steps 1-3: removes the round's staged files unless
  // the checkpoint names the round after all.
  void AbandonRound(uint64_t round);
  // Step 4: renames the staged model of `round` to ModelPath(round).
  absl::Status PublishModel(uint64_t round);
  // Open's repair (run_store_recovery.cc).
  absl::Status Recover();
  absl::Status RemoveStaleTemporaries();
  // Removes model and optimizer files the checkpoint (round `committed`,
  // or none) does not cover; publishes its staged model.
  absl::Status RemoveUncommittedFiles(std::optional<uint64_t> committed);
  // Truncates a torn last line and lines after `committed`; re-appends
  // `record` when the committed round's line is missing.
  absl::Status RepairMetrics(uint64_t committed, const nlohmann::json* record);
  // Cuts a torn last line of evaluation.jsonl (run_store_evaluation.cc).
  absl::Status RepairEvaluations();
  void Note(std::string note);
  // Writes the state file of `summary`'s round; returns its checkpoint
  // entry.
  absl::StatusOr<nlohmann::json> SaveStrategyState(
      const RoundSummary& summary) const;
  // Fills cp->strategy from the checkpoint's entry `j`, checked.
  absl::Status LoadStrategyState(const nlohmann::json& j,
                                 RunCheckpoint* cp) const;

  const std::string state_dir_;
  const FileRunStoreOptions options_;
  std::vector<std::string> recovery_notes_;
};

// One metrics line (JSON) for a completed round.
std::string RoundSummaryToJson(const RoundSummary& summary, int64_t unix_ms);
// One evaluation.jsonl line: {"run_id", "round", "model_version", "kind":
// "evaluation", "secure", "selected", "participants", "model_file" (the
// job only), "federated_eval": {...}, "unix_ms"}.
std::string EvaluationSummaryToJson(const FederatedEvalSummary& summary,
                                    int64_t unix_ms);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_RUN_STORE_H_
