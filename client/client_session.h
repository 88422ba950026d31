// The client's protocol state machine, one non-blocking step at a time:
//
//   Unprepared --GetContract, prepare--> Prepared --Register--> Registered
//   Registered --FetchTask--> {idle | task received}
//   task received --train--> uploading
//   uploading --push the update (plain) | one secure-aggregation exchange
//     per step, idle in between (secure)--> trained --> Registered ...
//   run finished -> Done
//
// Each Step() does one piece of work and returns; it never sleeps waiting
// for the coordinator. While a secure upload waits for the next phase, Step
// returns kIdle (ask again at once, or after the coordinator's retry
// delay; the caller may make the wait a long poll: NextSecAggPoll), and the
// upload's state (client/secure_upload.h) waits here for the next step; a
// transient failure of one exchange returns kFailed and the next step
// resends, so the caller's one backoff policy (client/client_daemon.h)
// handles every retry.
// NextStepComputes() tells the caller which steps train (CPU-bound, long)
// so it can run them on their own executor.
//
// It knows neither gRPC (CoordinatorTransport) nor LibTorch (RunPreparer,
// LocalTrainer). Guarantees: the site registers only after it has checked
// its model and data against the run's contract; a site that cannot meet the
// contract (or whose privacy floor the run is below) fails permanently
// (IsPermanent), after telling the coordinator why (Leave); a task of
// another contract sends the session back to prepare; a task whose model
// spec does not match the local model is refused before training; a
// cancelled training never produces an upload; an update is pushed whole or
// not at all, and a secure upload that passes secagg_timeout is abandoned.
//
// Thread-safety: Step() and LeaveRun() must not run concurrently (the daemon
// runs one step at a time); training() may be read from any thread, and
// run_id() between steps or while a training step runs.
#ifndef FEDLEARN_CLIENT_CLIENT_SESSION_H_
#define FEDLEARN_CLIENT_CLIENT_SESSION_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "client/coordinator_transport.h"
#include "client/run_preparer.h"
#include "client/secagg/identity_cache.h"
#include "client/secure_upload.h"
#include "client/session_observer.h"
#include "client/site_evaluation.h"
#include "client/training/local_trainer.h"
#include "client/training_slots.h"
#include "client/update_encoding.h"
#include "common/transport/tls_config.h"
#include "common/util/clock.h"

namespace fedlearn {

class ClientSession {
 public:
  struct Options {
    // Testing only: write every pushed update (delta + metadata) here, so an
    // end-to-end test can check the coordinator's aggregate. Never set it in
    // a deployment: it stores the raw update on disk.
    std::string record_updates_dir;
    // This client's TLS files: secure aggregation signs its keys with them.
    TlsConfig identity;
    // How long one secure-aggregation upload may take after training.
    std::chrono::milliseconds secagg_timeout{std::chrono::minutes(10)};
    // This site's privacy floor: tasks below it are refused untrained.
    PrivacyRequirement privacy;
    // Time for secagg_timeout; null = the system clock. Must outlive the
    // session.
    const Clock* clock = nullptr;
    // Hears registrations, trainings, deliveries, refusals and the state
    // (client/session_observer.h); null = nobody. Must outlive the session.
    SessionObserver* observer = nullptr;
    // fedlearn-sim only: seed the stochastic rounding of secure, non-DP
    // updates from this value (SimulationRoundingSeed), so a seeded
    // simulation is reproducible byte for byte. Never set by
    // fedlearn-client: a deployment always rounds with OS randomness.
    std::optional<uint64_t> simulation_rounding_seed;
  };

  enum class StepKind {
    kPrepared,
    kRegistered,
    kTaskReceived,  // a task passed its checks: the next step trains it
    kUploading,     // trained: the next steps deliver the update
    kIdle,          // nothing to do before retry_after_ms
    kTrained,       // the update was delivered (plain or secure)
    kRunFinished,
    kFailed
  };
  struct StepResult {
    StepKind kind = StepKind::kFailed;
    // kFailed: why (IsPermanent: do not retry). kRunFinished: OK, or why the
    // run failed.
    absl::Status status;
    uint32_t retry_after_ms = 0;  // set for kIdle (0: the caller's default)
    uint64_t round = 0;           // set for kTaskReceived .. kTrained
    // kIdle after a long poll that waited and found nothing, or a secure
    // upload whose next phase is worth a long poll now: ask again now.
    bool waited = false;
  };

  // `slots` may be null (no bound). `preparer` builds the trainer for the
  // run's contract; it must outlive the session.
  ClientSession(CoordinatorTransport* transport, RunPreparer* preparer,
                TrainingSlots* slots, Options options);
  // A trainer built up front (FixedTrainerPreparer).
  ClientSession(CoordinatorTransport* transport, LocalTrainer* trainer,
                TrainingSlots* slots, Options options);
  ~ClientSession();

  StepResult Step(const std::atomic<bool>& cancel);
  // True when the next Step() would fetch a task: the caller may fetch it
  // itself (CoordinatorTransport::FetchTaskAsync, holding no thread while
  // the coordinator waits) and hand the reply to CompleteFetch instead.
  bool NextStepFetches() const {
    return secure_upload_ == nullptr && !plain_upload_ && !task_ &&
           trainer_ != nullptr && registered_;
  }
  // That step, given the fetch's reply. REQUIRES: NextStepFetches().
  StepResult CompleteFetch(absl::StatusOr<FetchReply> reply) {
    StepResult result = OnFetchReply(std::move(reply));
    if (options_.observer != nullptr) options_.observer->OnState(State());
    return result;
  }
  uint64_t last_round() const { return last_round_; }

  // A secure upload's wait for its next phase, as a long poll.
  struct SecAggPoll {
    std::string run_id;
    uint64_t round = 0;
    std::chrono::milliseconds wait{0};
  };
  // Set when the next Step() would only poll the secure upload: the caller
  // may poll itself (CoordinatorTransport::SecAggPollAsync, holding no
  // thread while the coordinator waits) and hand the reply to
  // CompleteSecAggPoll instead.
  std::optional<SecAggPoll> NextSecAggPoll() const;
  // That step, given the poll's reply. REQUIRES: NextSecAggPoll() was set.
  StepResult CompleteSecAggPoll(absl::StatusOr<SecAggExchangeReply> reply);

  // True when the next Step() trains (CPU-bound local work) rather than
  // making RPCs.
  bool NextStepComputes() const;

  // Shutting down: tells the coordinator (best effort) so it stops selecting
  // this client. No-op if not registered.
  void LeaveRun(const std::string& reason);

  const std::string& client_id() const { return client_id_; }
  bool training() const { return training_.load(); }
  const std::string& run_id() const { return run_id_; }

 private:
  // A trained plain update waiting for its push.
  struct PlainUpload {
    OutgoingUpdate header;  // delta unset: it points into `delta` when sent
    FlatVector delta;
  };
  // What the log line says once an update is delivered.
  struct UploadSummary {
    uint64_t num_examples = 0;
    double train_loss = 0;
    double seconds = 0;
  };

  // Step() without telling the observer the state it leaves.
  StepResult StepOnce(const std::atomic<bool>& cancel);
  SessionState State() const;
  // Tells the observer (if any) why the task was not completed; returns `r`.
  StepResult Refused(TaskRefusal reason, StepResult r);
  StepResult Prepare();
  StepResult RegisterWithRun();
  // The fetch step's work once the transport answered.
  StepResult OnFetchReply(absl::StatusOr<FetchReply> reply);
  // Refuses (before training) a task this site cannot or will not train.
  std::optional<StepResult> RefuseTask(const ReceivedTask& task);
  absl::Status CheckDeadline(const ReceivedTask& task) const;
  StepResult Train(const std::atomic<bool>& cancel);
  // Federated evaluation first when the task asks for it (`report`), then
  // training, or, evaluate_only, a zero update.
  absl::StatusOr<TrainingResult> EvaluateAndTrain(
      const ReceivedTask& task, const std::atomic<bool>& cancel,
      std::optional<SiteEvalReport>* report);
  // Hands the trained update (and the report, if any) to the plain or the
  // secure upload.
  StepResult Upload(ReceivedTask task, TrainingResult result,
                    const ClipOutcome& clip,
                    std::optional<SiteEvalReport> report);
  StepResult StartSecureUpload(ReceivedTask task, const TrainingResult& result,
                               const ClipOutcome& clip,
                               const SiteEvalReport* report);
  // This client's secure-aggregation identity, from secagg_identity_.
  absl::StatusOr<SecAggIdentity> SecureIdentity();
  StepResult PushPlainUpload();
  StepResult AdvanceSecureUpload();
  // The secure upload's step result from its progress.
  StepResult OnSecureProgress(absl::StatusOr<SecureUpload::Progress> progress);
  // The update of `round` reached the coordinator.
  StepResult Delivered(uint64_t round);
  // A permanent failure: tells the coordinator, then fails the step.
  StepResult FailPermanently(absl::Status status);
  absl::Status RecordUpdate(const ReceivedTask& task,
                            const TrainingResult& result);

  CoordinatorTransport* const transport_;
  std::unique_ptr<RunPreparer> owned_preparer_;
  RunPreparer* const preparer_;
  LocalTrainer* trainer_ = nullptr;  // set once prepared
  // Set once prepared for a contract with federated evaluation; the
  // evaluator stays null when this site holds nothing out.
  std::optional<EvalLayout> eval_layout_;
  LocalEvaluator* evaluator_ = nullptr;
  std::string contract_digest_;
  TrainingSlots* const slots_;
  const Options options_;
  const SystemClock system_clock_;
  const Clock* const clock_;

  bool registered_ = false;
  std::string run_id_;
  std::string client_id_;
  uint64_t last_round_ = 0;
  std::atomic<bool> training_{false};
  // At most one of these is set: the round in progress.
  std::optional<ReceivedTask> task_;             // received, not trained
  std::optional<PlainUpload> plain_upload_;      // trained, to push
  std::unique_ptr<SecureUpload> secure_upload_;  // trained, uploading
  SecAggIdentityCache secagg_identity_;          // loaded at registration
  UploadSummary summary_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_CLIENT_SESSION_H_
