// The client's protocol state machine, one blocking step at a time:
//
//   Unprepared --GetContract, prepare--> Prepared --Register--> Registered
//   Registered --FetchTask--> {idle | task}
//   task --train--> push update --> Registered ...      run finished -> Done
//
// It knows neither gRPC (CoordinatorTransport) nor LibTorch (RunPreparer,
// LocalTrainer). Guarantees: the site registers only after it has checked
// its model and data against the run's contract; a site that cannot meet the
// contract (or whose privacy floor the run is below) fails permanently
// (IsPermanent), after telling the coordinator why (Leave); a task of
// another contract sends the session back to prepare; a task whose model
// spec does not match the local model is refused before training; a
// cancelled training never produces an upload; an update is pushed whole or
// not at all.
#ifndef FEDLEARN_CLIENT_CLIENT_SESSION_H_
#define FEDLEARN_CLIENT_CLIENT_SESSION_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "client/coordinator_transport.h"
#include "client/run_preparer.h"
#include "common/transport/tls_config.h"
#include "client/training/local_trainer.h"
#include "client/training_slots.h"
#include "client/update_encoding.h"

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
    // How long one secure-aggregation exchange may take after training.
    std::chrono::milliseconds secagg_timeout{std::chrono::minutes(10)};
    // Testing only (see SecureUploadFaults).
    int exit_after_secagg_messages = 0;
    // This site's privacy floor: tasks below it are refused untrained.
    PrivacyRequirement privacy;
  };

  enum class StepKind {
    kPrepared,
    kRegistered,
    kIdle,
    kTrained,
    kRunFinished,
    kFailed
  };
  struct StepResult {
    StepKind kind = StepKind::kFailed;
    // kFailed: why (IsPermanent: do not retry). kRunFinished: OK, or why the
    // run failed.
    absl::Status status;
    uint32_t retry_after_ms = 0;  // set for kIdle
    uint64_t round = 0;           // set for kTrained
  };

  // `slots` may be null (no bound). `preparer` builds the trainer for the
  // run's contract; it must outlive the session.
  ClientSession(CoordinatorTransport* transport, RunPreparer* preparer,
                TrainingSlots* slots, Options options);
  // A trainer built up front (FixedTrainerPreparer).
  ClientSession(CoordinatorTransport* transport, LocalTrainer* trainer,
                TrainingSlots* slots, Options options);

  StepResult Step(const std::atomic<bool>& cancel);

  // Shutting down: tells the coordinator (best effort) so it stops selecting
  // this client. No-op if not registered.
  void LeaveRun(const std::string& reason);

  const std::string& client_id() const { return client_id_; }
  bool training() const { return training_.load(); }
  const std::string& run_id() const { return run_id_; }

 private:
  StepResult Prepare();
  // A permanent failure: tells the coordinator, then fails the step.
  StepResult FailPermanently(absl::Status status);
  StepResult TrainAndPush(ReceivedTask task, const std::atomic<bool>& cancel);
  absl::Status RecordUpdate(const ReceivedTask& task,
                            const TrainingResult& result);

  CoordinatorTransport* const transport_;
  std::unique_ptr<RunPreparer> owned_preparer_;
  RunPreparer* const preparer_;
  LocalTrainer* trainer_ = nullptr;  // set once prepared
  std::string contract_digest_;
  TrainingSlots* const slots_;
  const Options options_;

  bool registered_ = false;
  std::string run_id_;
  std::string client_id_;
  uint64_t last_round_ = 0;
  std::atomic<bool> training_{false};
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_CLIENT_SESSION_H_
