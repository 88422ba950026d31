// What a client daemon reports about itself, for its metrics
// (client/client_metrics.h) or a test: two small interfaces, each optional
// (a null pointer means nobody listens).
//
// SessionObserver hears ClientSession's events: registrations, trainings,
// delivered updates, tasks it received but did not complete (by a bounded
// reason), and its state after each step. TrafficObserver hears the bytes a
// CoordinatorTransport moved.
//
// Guarantees: events carry numbers and enums only (never an update, a key,
// a coordinator-supplied string), so what an observer exports is bounded.
// Thread-safety: ClientSession calls its observer from whichever thread runs
// the step; a transport calls its observer from any thread (a step and a
// heartbeat at once). Implementations must be thread-safe and outlive the
// session or transport.
#ifndef FEDLEARN_CLIENT_SESSION_OBSERVER_H_
#define FEDLEARN_CLIENT_SESSION_OBSERVER_H_

#include <cstdint>

namespace fedlearn {

// Why a task the coordinator sent was not completed. A fixed set: it is a
// metric label.
enum class TaskRefusal {
  kPrivacyFloor,        // the round offers less privacy than this site asks
                        // (or would exceed its record-level budget)
  kContractMismatch,    // another contract, or a model spec that differs
  kStale,               // its deadline (or the secure upload's) passed
  kTrainingError,       // local training or clipping/encoding failed
  kCoordinatorRefused,  // the coordinator refused or ended the upload
  kOther,               // e.g. the coordinator unreachable while uploading
};
inline constexpr TaskRefusal kAllTaskRefusals[] = {
    TaskRefusal::kPrivacyFloor,
    TaskRefusal::kContractMismatch,
    TaskRefusal::kStale,
    TaskRefusal::kTrainingError,
    TaskRefusal::kCoordinatorRefused,
    TaskRefusal::kOther};
inline const char* TaskRefusalName(TaskRefusal reason) {
  switch (reason) {
    case TaskRefusal::kPrivacyFloor:
      return "privacy_floor";
    case TaskRefusal::kContractMismatch:
      return "contract_mismatch";
    case TaskRefusal::kStale:
      return "stale";
    case TaskRefusal::kTrainingError:
      return "training_error";
    case TaskRefusal::kCoordinatorRefused:
      return "coordinator_refused";
    case TaskRefusal::kOther:
      break;
  }
  return "other";
}

// Where the session stands after each step.
enum class SessionState {
  kPreparing,  // not registered: fetching the contract or registering
  kIdle,       // registered, polling for a task
  kTraining,   // a task received and checked, training it
  kUploading,  // trained, delivering the update
};
inline constexpr SessionState kAllSessionStates[] = {
    SessionState::kPreparing, SessionState::kIdle, SessionState::kTraining,
    SessionState::kUploading};
inline const char* SessionStateName(SessionState state) {
  switch (state) {
    case SessionState::kPreparing:
      return "preparing";
    case SessionState::kIdle:
      return "idle";
    case SessionState::kTraining:
      return "training";
    case SessionState::kUploading:
      break;
  }
  return "uploading";
}

class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  // Each successful Register: the first, and each one after the
  // coordinator forgot this client or the contract changed.
  virtual void OnRegistered() = 0;
  // Local training of one task finished (successfully), in `seconds`.
  virtual void OnTrained(double seconds) = 0;
  // The update of a round reached the coordinator; `secure`: through secure
  // aggregation.
  virtual void OnUpdateDelivered(bool secure) = 0;
  virtual void OnTaskRefused(TaskRefusal reason) = 0;
  virtual void OnState(SessionState state) = 0;
};

class TrafficObserver {
 public:
  virtual ~TrafficObserver() = default;
  // Serialized message bytes (protobuf payloads, without gRPC, HTTP/2 and
  // TLS framing) sent to and received from the coordinator.
  virtual void OnTraffic(uint64_t sent_bytes, uint64_t received_bytes) = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SESSION_OBSERVER_H_
