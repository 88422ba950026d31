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
//                                        ledger in DP runs, the SHA-256 of
//                                        its model file, the optimizer
//                                        state's file name and SHA-256, and
//                                        the SHA-256 of its own bytes
//                                        (run_store_checkpoint.h)
//   <state>/checkpoint.previous.json     the commit before it (same form),
//                                        plus "successor": the round being
//                                        committed after it and the privacy
//                                        ledger after that round
//
// The checkpoint is the commit point. Per round (StoreStep, in order):
//   1. the model, atomically, as models/round-N.fmodel.staged (not yet a
//      model of the run: a staged file the checkpoint does not name is
//      removed on open);
//   2. the optimizer state (atomic), named and digested by step 3;
//   3a. checkpoint.previous.json (atomic): the last commit (N-1) and, as
//      its successor, round N with the ledger after N;
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
//
// Damage (a torn, truncated or bit-flipped file, found by its SHA-256): Open
// checks checkpoint.json and the model and optimizer files it names. If any
// fails (or checkpoint.json is missing beside a previous one) and
// checkpoint.previous.json passes the same checks, Open falls back to it:
// it renames the bad file to *.corrupt (checkpoint.json to *.rolled-back
// when only a file it names is bad), moves the model and optimizer files of
// later rounds to *.rolled-back and their metrics lines to
// metrics.rolled-back.jsonl, and writes the previous checkpoint as
// checkpoint.json, with a warning naming the file, what was wrong and the
// round the run resumes after. Nothing is deleted. Privacy: the fallback
// keeps the successor's ledger (the charge of the round whose checkpoint
// was lost, whether or not it was released), so a redone round is charged
// twice, never zero times; if rounds beyond the successor were released,
// or a DP checkpoint has no successor ledger while later rounds are on
// disk, Open refuses (FailedPrecondition) rather than guess. If both
// checkpoints fail, Open returns DataLoss naming both and changes nothing.
// A checkpoint without checksums (an earlier version's) is accepted with a
// warning; the next commit writes them.
// Open also writes and removes a probe file: a state directory that cannot
// be created or written (a full disk, a read-only mount, a path under a
// regular file) fails Open with the path and errno, before any repair.
//
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
  kWritePreviousCheckpoint,
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
  // Creates the directory layout if needed, checks it is writable and
  // repairs what an interrupted coordinator or a damaged file left (see
  // above). Errors if the directory or the repair cannot write, DataLoss if
  // metrics.jsonl is corrupt before its last line or no checkpoint passes
  // its checks.
  static absl::StatusOr<std::unique_ptr<FileRunStore>> Open(
      std::string state_dir, FileRunStoreOptions options = {});

  // NotFound-free: nullopt when the directory holds no checkpoint yet.
  // DataLoss if checkpoint.json fails its own digest, or its model file is
  // missing, corrupt or not the one it names by digest, or it names an
  // optimizer state file that is missing, corrupt, not the one it names by
  // digest, or of another run or round. Does not fall back (Open does).
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
  std::string PreviousCheckpointPath() const {
    return state_dir_ + "/checkpoint.previous.json";
  }
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
  absl::Status ProbeWritable() const;
  // Step 1: writes the staged model; returns the SHA-256 of its bytes.
  absl::StatusOr<std::string> StageModel(const std::string& run_id,
                                         uint64_t round,
                                         const FlatModel& model);
  struct CheckpointContent {
    std::string run_id;
    uint64_t round = 0;
    std::string model_sha256;
    const DpState* dp = nullptr;
    // The optimizer state file's {"file", "sha256", ...} entry.
    const nlohmann::json* strategy = nullptr;
    const nlohmann::json* metrics = nullptr;  // the round's record
  };
  // Steps 3a and 3 (run_store_checkpoint.cc).
  absl::Status WriteCheckpoint(const CheckpointContent& content);
  // A checkpoint file that passed every check: its body (without the
  // digest) and the state it commits.
  struct CheckedCheckpoint {
    nlohmann::json body;
    RunCheckpoint checkpoint;
    bool sealed = false;  // false: an earlier version's, unverified
  };
  // Reads and checks `path` and the files it names. On failure
  // `*bad_file` is the file found bad (`path` itself, its model or its
  // optimizer state); NotFound with *bad_file == path if it is missing.
  absl::StatusOr<CheckedCheckpoint> CheckCheckpoint(
      const std::string& path, std::string* bad_file) const;
  // Fills cp->model from the file of cp->completed_round, checked against
  // body["model_sha256"] (set to the file's digest when absent).
  absl::Status LoadModel(nlohmann::json& body, RunCheckpoint* cp,
                         std::string* bad_file) const;
  // Open's choice (run_store_fallback.cc): checkpoint.json if it passes,
  // else the previous one after the fallback above; nullopt for neither.
  absl::StatusOr<std::optional<nlohmann::json>> ChooseCheckpoint();
  absl::Status FallBack(const std::string& what_failed,
                        const std::string& bad_file,
                        CheckedCheckpoint previous);
  // Model and optimizer files and metrics lines of rounds after `round`
  // renamed / copied aside (fallback); the notes say which.
  absl::Status MoveAsideRoundsAfter(uint64_t round);
  absl::Status MoveAsideMetricsAfter(uint64_t round);
  // Renames `path` to `path + suffix` (".1", ".2", ... added if taken).
  absl::StatusOr<std::string> MoveAside(const std::string& path,
                                        const std::string& suffix);
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
  // Fills cp->strategy from the entry `j` of checkpoint file `checkpoint`,
  // checked; *bad_file is the state file.
  absl::Status LoadStrategyState(const nlohmann::json& j,
                                 const std::string& checkpoint,
                                 RunCheckpoint* cp,
                                 std::string* bad_file) const;

  const std::string state_dir_;
  const FileRunStoreOptions options_;
  std::vector<std::string> recovery_notes_;
  // The body of the last checkpoint committed or opened: the content of
  // the next previous checkpoint (step 3a).
  std::optional<nlohmann::json> committed_body_;
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
