// What the client's protocol code needs from the coordinator, independent of
// how it is reached. The gRPC implementation is grpc_coordinator_transport.h;
// tests substitute a fake, and fault_injecting_transport.h wraps one for
// end-to-end tests.
//
// Every call blocks for at most its own deadline and reports failures by
// meaning (Unavailable / DeadlineExceeded: transient, worth retrying after a
// backoff; anything else: the coordinator's answer). Implementations are
// safe to call from two threads at once (a step and a heartbeat), and
// CancelInFlight from any thread.
#ifndef FEDLEARN_CLIENT_COORDINATOR_TRANSPORT_H_
#define FEDLEARN_CLIENT_COORDINATOR_TRANSPORT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/training_config.h"
#include "common/flat/flat_vector.h"
#include "common/wire/secagg_exchange.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

struct RegisterReply {
  std::string run_id;
  std::string client_id;  // as the coordinator sees us
  uint64_t round = 0;
  uint32_t heartbeat_interval_ms = 0;
};

// The run's contract as the coordinator declared it, and its digest.
struct ReceivedContract {
  v1::RunContract contract;
  std::string digest;
};

// The client's view of the server's Task (server/round/round_types.h). Not
// shared with it: the server shares one model between a round's tasks, the
// client owns its decoded copy. Likewise FetchReply and the server's
// FetchOutcome. SecAggExchangeReply is shared (common/wire/).
struct ReceivedTask {
  std::string run_id;
  uint64_t round = 0;
  uint64_t model_version = 0;
  FlatModel model;
  TrainingConfig training;
  int64_t deadline_unix_ms = 0;
  // Set when the round uses secure aggregation.
  std::optional<v1::SecAggConfig> secagg;
  v1::SecAggEncoding encoding;
  // Set when the round is differentially private.
  std::optional<v1::DpTaskConfig> dp;
  // The contract this task belongs to.
  std::string contract_digest;
  // Set when the coordinator asks for federated evaluation of `model` on
  // the held-out split (before training; evaluate_only: instead of it).
  std::optional<v1::EvaluationTask> evaluation;
};

struct FetchReply {
  std::optional<ReceivedTask> task;
  bool run_finished = false;
  bool run_failed = false;  // with run_finished
  // The coordinator halted the run (it could not write its state): not
  // finished; a restarted coordinator resumes it.
  bool run_halted = false;
  uint32_t retry_after_ms = 0;
  // The coordinator held the call for the asked wait (long poll) and found
  // nothing: ask again at once (NoTask.waited).
  bool waited = false;
  std::string reason;
};

struct OutgoingUpdate {
  std::string run_id;
  uint64_t round = 0;
  uint64_t model_version = 0;
  uint64_t num_examples = 0;
  double train_loss = 0.0;
  double train_seconds = 0.0;
  const FlatVector* delta = nullptr;
  // Plaintext rounds with evaluation: the SiteEvalReport in its flat order
  // (UpdateHeader.eval_report); empty otherwise.
  std::vector<uint64_t> eval_report;
};

class CoordinatorTransport {
 public:
  virtual ~CoordinatorTransport() = default;
  virtual absl::StatusOr<ReceivedContract> GetContract() = 0;
  // `contract_digest`: the contract this client prepared for. Each transport
  // instance is one session (a random id sent with Register and Leave).
  virtual absl::StatusOr<RegisterReply> Register(
      uint64_t num_examples, const std::string& contract_digest) = 0;
  // Tells the coordinator this client is going away (best effort, with its
  // own short deadline; not cancelled by CancelInFlight).
  virtual absl::Status Leave(bool permanent, const std::string& reason) = 0;
  virtual absl::StatusOr<FetchReply> FetchTask(const std::string& run_id,
                                               uint64_t last_round) = 0;
  // Long poll without a thread: as FetchTask, but the coordinator may hold
  // the call until a task exists (up to the transport's wait), and `done`
  // gets the reply on a transport thread. False: not supported here (use
  // FetchTask); `done` is then never called. CancelInFlight ends it.
  virtual bool FetchTaskAsync(
      const std::string& run_id, uint64_t last_round,
      std::function<void(absl::StatusOr<FetchReply>)> done) {
    return false;
  }
  // Either the whole update is delivered and accepted, or an error.
  virtual absl::Status PushResult(const OutgoingUpdate& update) = 0;
  // Secure aggregation: sends `message` (null = just poll) and returns what
  // the server has for this client now.
  virtual absl::StatusOr<SecAggExchangeReply> SecAggExchange(
      const std::string& run_id, uint64_t round,
      const v1::SecAggClientMessage* message) = 0;
  // Long poll without a thread: as SecAggExchange with no message, but the
  // coordinator may hold the call up to `wait` until this client's next
  // phase message (or an abort) exists; `done` gets the reply on a
  // transport thread (SecAggExchangeReply::waited: the coordinator held
  // it). False: not supported here (poll with SecAggExchange); `done` is
  // then never called. CancelInFlight ends it.
  virtual bool SecAggPollAsync(
      const std::string& run_id, uint64_t round, std::chrono::milliseconds wait,
      std::function<void(absl::StatusOr<SecAggExchangeReply>)> done) {
    return false;
  }
  // Secure aggregation: uploads the masked vector, whole or not at all,
  // `value_bytes` (2 when modulus_bits <= 16, else 4) per value, in the
  // wire form of common/wire/masked_value_codec.h. `clear_eval_report`
  // (empty unless the task's EvaluationTask.per_site is set) goes in the
  // clear in the upload's header: this site's own evaluation report.
  // `secagg_session_id`: the session of the task (SecAggConfig.session_id),
  // which the coordinator checks against its open attempt's.
  virtual absl::Status PushMaskedInput(
      const std::string& run_id, uint64_t round, uint64_t model_version,
      absl::Span<const uint32_t> masked, int value_bytes,
      absl::Span<const uint64_t> clear_eval_report,
      const std::string& secagg_session_id) = 0;
  // Returns whether the run has finished.
  virtual absl::StatusOr<bool> Heartbeat(const std::string& run_id,
                                         std::string_view activity) = 0;
  // Aborts any call in flight (from another thread); used on shutdown.
  virtual void CancelInFlight() = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_COORDINATOR_TRANSPORT_H_
