// The coordinator's round engine: a transport-free state machine that runs R
// rounds of federated averaging.
//
//   WaitingForClients -> Training(round r, attempt a) -> Closing -> ...
//                                                     -> Finished | Failed
//
// It sequences the round's parts, each in its own file: the membership
// (ClientRegistry), the cohort's choice (CohortSampler), one attempt's
// collection (a RoundCollector: plaintext or secure aggregation, chosen by
// StartRoundCollector), and the release of the attempt's aggregate into the
// next model and the round's summary (ReleaseRound, DP included). With at
// least `min_updates` contributions the round is released, evaluated and
// handed to the listeners (persistence, reporting); with fewer it is retried
// with a fresh sample, and after `max_round_attempts` the run fails with a
// message saying why. A round is never averaged over nobody.
//
// Federated evaluation (config.evaluation, server/round/federated_evaluation
// .h): the scheduled training rounds' tasks ask the cohort to evaluate the
// round's starting model, and their summaries carry the result
// (RoundSummary::federated_eval); after the last training round an
// evaluation-only round (round num_rounds + 1, model version num_rounds)
// evaluates the final model, reports to OnEvaluationCompleted and ends the
// run, leaving the model, the server optimizer's state and the privacy
// ledger untouched (no OnRoundCompleted, so no model file or checkpoint).
//
// Time comes from an injected Clock and the engine does no I/O of its own, so
// every deadline and dropout is tested without sockets or sleeps.
//
// Thread-safety: Register/Leave/Evict/FetchTask/SubmitUpdate/Heartbeat/
// SecAgg* may be called from any number of transport threads; Tick() and
// RunUntilDone() from one driver thread only. Listeners and the evaluator
// are called from the driver thread without the engine's lock held.
#ifndef FEDLEARN_SERVER_ROUND_ROUND_ENGINE_H_
#define FEDLEARN_SERVER_ROUND_ROUND_ENGINE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/flat/flat_vector.h"
#include "common/secagg/input_encoding.h"
#include "common/util/clock.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "server/round/client_registry.h"
#include "server/round/cohort_sampler.h"
#include "server/round/dp_planner.h"
#include "server/round/model_evaluator.h"
#include "server/round/round_collector.h"
#include "server/round/round_engine_config.h"
#include "server/round/round_release.h"
#include "server/round/round_types.h"
#include "server/strategy/qffl.h"

namespace fedlearn {

class RoundEngine {
 public:
  enum class Phase {
    kWaitingForClients,
    kTraining,
    kClosing,
    kFinished,
    kFailed
  };

  // `initial` is the model of version `start_round - 1` (resuming a run starts
  // after the last persisted round). `evaluator` may be null.
  static absl::StatusOr<std::unique_ptr<RoundEngine>> Create(
      RoundEngineConfig config, FlatModel initial, uint64_t start_round,
      const Clock* clock, ModelEvaluator* evaluator);

  RoundEngine(const RoundEngine&) = delete;
  RoundEngine& operator=(const RoundEngine&) = delete;

  void AddListener(RoundListener* listener);
  // Later notifications skip `listener` (one that dies before the engine,
  // e.g. a gRPC service's). REQUIRES: no notification to it is in progress
  // (the driver thread stopped, or the listener tolerates a late call).
  void RemoveListener(RoundListener* listener);

  ContractOffer GetContract() const;
  // `contract_digest` must name the run's contract (empty: not checked, for
  // in-process callers; the gRPC service always passes the client's).
  // AlreadyExists while another session of `client_id` is live.
  absl::Status Register(const std::string& client_id, uint64_t num_examples,
                        const std::string& contract_digest = "",
                        const std::string& session_id = "");
  // The client leaves: it is no longer sampled, and if it was selected for
  // the open plaintext round it counts as answered. A permanent departure is
  // recorded (departures()) and logged as a failed site. A later Register
  // brings the client back. `reason` is client-supplied and sanitised here.
  absl::Status Leave(const std::string& client_id,
                     const std::string& session_id, bool permanent,
                     const std::string& reason);
  // Ends `client_id`'s session on the coordinator's initiative (its
  // certificate was revoked, or it is no longer enrolled): marked left and
  // recorded as a permanent departure with `reason`, and counted as a
  // dropout of the open attempt, as Leave. A Register brings it back only
  // if the transport admits it again. NotFound if it never registered.
  absl::Status Evict(const std::string& client_id, const std::string& reason);
  // Every client that left permanently, latest reason per client.
  std::vector<DepartedClient> departures() const;
  absl::Status Heartbeat(const std::string& client_id);
  absl::StatusOr<FetchOutcome> FetchTask(const std::string& client_id);
  // Whether `client_id` may upload now (a plaintext update or a masked
  // input) for `round` of `run_id`: it is registered (else NotFound), the
  // open attempt is that round of that run (else FailedPrecondition), the
  // client is in the attempt's cohort (else PermissionDenied, as for every
  // call of an unselected client), it fetched this attempt's task (else
  // FailedPrecondition: "fetch the round's task before uploading") and, for
  // a plaintext update, it has not answered yet (else AlreadyExists). O(log
  // n) under the lock: the transport calls it before it allocates any upload
  // buffer. SubmitUpdate and SubmitMaskedInput apply the same rule.
  absl::Status CheckMayUpload(const std::string& client_id,
                              const std::string& run_id, uint64_t round) const;
  // Validates and folds the update into the running sum. Any rejection of a
  // selected client's update that passed CheckMayUpload counts as its answer
  // for this round.
  absl::Status SubmitUpdate(const std::string& client_id,
                            UpdateSubmission submission);

  // Secure aggregation: delivers `message` (may be null: a poll) and returns
  // what the server has for this client now.
  absl::StatusOr<SecAggExchangeReply> SecAggExchange(
      const std::string& client_id, const std::string& run_id, uint64_t round,
      const v1::SecAggClientMessage* message);
  // Secure aggregation: a masked input (the encoded length, values < 2^b),
  // and, with per-site evaluation, the site's report in the clear.
  // `secagg_session_id` must be the open attempt's (its tasks'
  // SecAggConfig.session_id), else FailedPrecondition: the input belongs to
  // a stale session (nullopt: not checked, for in-process callers; the gRPC
  // service always passes the upload's).
  absl::Status SubmitMaskedInput(
      const std::string& client_id, const std::string& run_id, uint64_t round,
      std::vector<uint32_t> masked, std::vector<uint64_t> eval_report = {},
      const std::optional<std::string>& secagg_session_id = std::nullopt);
  // Encoded length of a masked input in the open secure round, else 0.
  size_t MaskedInputLength() const;
  // Wire width of a masked value (2 or 4 bytes) for this run.
  int MaskedValueBytes() const {
    return fedlearn::MaskedValueBytes(config_.secagg.modulus_bits);
  }

  // Records that a selected client's upload for `round` was malformed (so the
  // round need not wait for it). Ignored unless it matches the open round.
  void RejectUpdate(const std::string& client_id, const std::string& run_id,
                    uint64_t round, const absl::Status& why);

  // Advances the state machine: starts rounds, closes them at their deadline
  // or when everyone answered, releases, retries or fails.
  void Tick();
  // Runs Tick() until the run ends or `stop` is set, waking early when an
  // update arrives. Returns the run's outcome.
  absl::Status RunUntilDone(const std::atomic<bool>& stop,
                            Duration tick = std::chrono::milliseconds(100));

  Phase phase() const;
  // kFailed because a round could not be recorded (storage): halted, not
  // over; a restarted coordinator resumes the run.
  bool halted() const;
  uint64_t current_round() const;
  uint64_t model_version() const;
  std::string run_id() const { return config_.run_id; }
  const ModelSpec& spec() const { return spec_; }
  // Values in one plaintext update: the model's, plus q-FFL's denominator
  // slot under [strategy] name = "qffl" (server/strategy/qffl.h).
  size_t update_length() const {
    return UpdateValues(config_.strategy, dimension_);
  }
  absl::Status outcome() const;
  // Why an OK run ended before its configured last round ("" otherwise).
  std::string finished_reason() const;
  std::shared_ptr<const FlatModel> global_model() const;

  // What an operator's status query shows of the engine, read under one
  // lock: counts and totals, never a client's id. O(registered clients).
  struct StatusView {
    Phase phase = Phase::kWaitingForClients;
    uint64_t round = 0;  // being run or next to run
    int attempt = 0;
    int num_rounds = 0;
    size_t registered = 0;
    size_t live = 0;
    bool dp = false;
    double epsilon_spent = 0;   // DP runs (the whole run, resumes included)
    double epsilon_budget = 0;  // 0: none
    double delta = 0;
    std::string finished_reason;
    std::string failure;  // the outcome's message when the run failed
  };
  StatusView status_view() const;

 private:
  RoundEngine(RoundEngineConfig config, FlatModel initial, uint64_t start_round,
              const Clock* clock, ModelEvaluator* evaluator,
              std::unique_ptr<DpPlanner> dp,
              std::unique_ptr<ServerOptimizer> optimizer,
              std::optional<EvalLayout> eval_layout);

  // The open attempt of `round` in `run_id`, if a client's message names
  // them: FailedPrecondition otherwise (or if the client is unknown:
  // NotFound).
  absl::Status CheckOpenAttemptLocked(const std::string& client_id,
                                      const std::string& run_id,
                                      uint64_t round) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckMayUploadLocked(const std::string& client_id,
                                    const std::string& run_id,
                                    uint64_t round) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Task MakeTaskLocked(const std::string& client_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The reason a client gets from FetchTask when there is no task for it
  // outside the training phase.
  std::string IdleReasonLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Starts the next attempt if enough clients are live; false otherwise.
  bool TryStartRoundLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The live clients if a round can start now, else nullopt (and the
  // waiting reason is updated).
  std::optional<std::vector<std::string>> LiveForStartLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // DP rounds: plans the attempt; false if the run ended instead (the plan
  // failed, or the budget is spent).
  bool PlanPrivateRoundLocked(size_t population, size_t cohort_size)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes the open attempt and releases, retries or fails. Called with the
  // lock held; releases it while evaluating and persisting.
  void CloseAttempt(std::unique_lock<std::mutex>& lock)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishRound(std::unique_lock<std::mutex>& lock, ReleasedRound released)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An evaluation-only attempt's end: its summary to the listeners
  // (OnEvaluationCompleted), then the run ends.
  void FinishEvaluationOnly(std::unique_lock<std::mutex>& lock,
                            const RoundAggregate& aggregate)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The open round is the evaluation-only round after the last training
  // round (and it has not been done).
  bool EvaluationOnlyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The attempt about to start evaluates (sets eval_attempt_).
  void PlanEvaluationLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  FederatedEvalSummary SummarizeEvaluationLocked(
      const RoundAggregate& aggregate) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RetryOrFailLocked(std::unique_lock<std::mutex>& lock,
                         const std::string& reason, const std::string& advice)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `finished_early` (with an OK outcome): why the run ended before its
  // last round, e.g. the privacy budget.
  void EndRunLocked(absl::Status outcome, std::string finished_early = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells the listeners (OnPhaseStarted, under the lock) of the phases the
  // open attempt entered since the last call (collector_->TakePhasesEntered).
  void NotifyPhasesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyPhaseLocked(const std::string& phase)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the closing attempt's exclusions (collector_->TakeExclusions)
  // for the round's later attempts and queues them for OnClientBlamed.
  void RecordExclusionsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls OnClientBlamed for the queued exclusions, without the lock.
  void NotifyBlamed(std::unique_lock<std::mutex>& lock)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `live` minus the round's excluded clients, unless that leaves too few
  // to sample a cohort (then `live`, with a warning).
  std::vector<std::string> EligibleLocked(std::vector<std::string> live) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RoundEngineConfig config_;
  const Clock* const clock_;
  ModelEvaluator* const evaluator_;
  const ModelSpec spec_;
  const size_t dimension_;
  const std::unique_ptr<DpPlanner> dp_;  // null without DP
  // config_.strategy, stepped once per released round (ReleaseRound).
  const std::unique_ptr<ServerOptimizer> optimizer_ ABSL_PT_GUARDED_BY(mu_);
  // Federated evaluation's report layout (nullopt: off) and group names,
  // from the contract's EvaluationSpec.
  const std::optional<EvalLayout> eval_layout_;
  const std::vector<std::string> eval_groups_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<RoundListener*> listeners_ ABSL_GUARDED_BY(mu_);
  ClientRegistry registry_ ABSL_GUARDED_BY(mu_);
  CohortSampler sampler_ ABSL_GUARDED_BY(mu_);
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kWaitingForClients;
  absl::Status outcome_ ABSL_GUARDED_BY(mu_);
  std::string finished_reason_ ABSL_GUARDED_BY(mu_);
  // kFailed because a round could not be recorded (storage): the run is
  // halted, not over; a restarted coordinator resumes it.
  bool halted_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t round_ ABSL_GUARDED_BY(mu_);  // the round being run or next to run
  int attempt_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const FlatModel> global_ ABSL_GUARDED_BY(mu_);
  std::string waiting_reason_ ABSL_GUARDED_BY(mu_);
  // The open attempt (phase kTraining), else null.
  std::unique_ptr<RoundCollector> collector_ ABSL_GUARDED_BY(mu_);
  TimePoint round_started_ ABSL_GUARDED_BY(mu_);
  int64_t deadline_unix_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<DpRoundPlan> dp_plan_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const v1::DpTaskConfig> dp_task_ ABSL_GUARDED_BY(mu_);
  // The open attempt's evaluation task (nullopt: none).
  std::optional<EvalAttempt> eval_attempt_ ABSL_GUARDED_BY(mu_);
  // The evaluation-only round after the last training round is done (or
  // was already recorded when the run resumed).
  bool final_evaluation_done_ ABSL_GUARDED_BY(mu_) = false;
  // Clients kept out of the current round's remaining attempts (by id, with
  // why); cleared when the round is released: the next round samples
  // everyone again.
  std::map<std::string, std::string> excluded_ ABSL_GUARDED_BY(mu_);
  struct Blamed {
    uint64_t round;
    int attempt;
    ClientExclusion exclusion;
  };
  std::vector<Blamed> unreported_blame_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_ROUND_ENGINE_H_
