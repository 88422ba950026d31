// The client's protocol state machine, one blocking step at a time:
//
//   Unregistered --Register--> Registered --FetchTask--> {idle | task}
//   task --train--> push update --> Registered ...      run finished -> Done
//
// It knows neither gRPC (CoordinatorTransport) nor LibTorch (LocalTrainer).
// Guarantees: a task whose model spec does not match the local model is
// refused before training; a cancelled training never produces an upload; an
// update is pushed whole or not at all.
#ifndef FEDLEARN_CLIENT_CLIENT_SESSION_H_
#define FEDLEARN_CLIENT_CLIENT_SESSION_H_

#include <atomic>
#include <chrono>
#include <string>

#include "client/coordinator_transport.h"
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

  enum class StepKind { kRegistered, kIdle, kTrained, kRunFinished, kFailed };
  struct StepResult {
    StepKind kind = StepKind::kFailed;
    absl::Status status;          // set for kFailed
    uint32_t retry_after_ms = 0;  // set for kIdle
    uint64_t round = 0;           // set for kTrained
  };

  // `slots` may be null (no bound).
  ClientSession(CoordinatorTransport* transport, LocalTrainer* trainer,
                TrainingSlots* slots, Options options);

  StepResult Step(const std::atomic<bool>& cancel);

  const std::string& client_id() const { return client_id_; }
  bool training() const { return training_.load(); }
  const std::string& run_id() const { return run_id_; }

 private:
  StepResult TrainAndPush(ReceivedTask task, const std::atomic<bool>& cancel);
  absl::Status RecordUpdate(const ReceivedTask& task,
                            const TrainingResult& result);

  CoordinatorTransport* const transport_;
  LocalTrainer* const trainer_;
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
