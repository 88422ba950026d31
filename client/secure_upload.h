// Uploads one round's update through secure aggregation, one exchange at a
// time: a state machine the client session drives between steps, so no
// thread ever sleeps waiting for the coordinator.
//
// Start() takes the update's encoding (client/update_encoding.h) and builds
// the SecAggClient state machine (client/secagg/); each Advance() sends what
// is pending (or polls), hands the coordinator's new phase message to the
// SecAggClient, uploads the masked vector when the protocol produces it, and
// returns when there is nothing left to do but wait or the unmasking shares
// were delivered. The raw update never leaves this object; only the masked
// vector does, whole or not at all.
//
// Waiting: when only a poll is left (polls()), the caller may make it a long
// poll without a thread (CoordinatorTransport::SecAggPollAsync, for
// PollWait()) and hand the reply to CompletePoll(), which goes on as
// Advance() does. Progress says when to ask again: at once after the
// coordinator held a poll (`waited`) or after delivering a message or the
// masked input (the next phase may follow soon: long-poll it now), else
// after the coordinator's retry delay (a coordinator that ignores wait_ms).
// The masked input names the task's session (SecAggConfig.session_id), so
// the coordinator can refuse one that outlived its attempt.
//
// Failures: a transient transport failure (Unavailable, DeadlineExceeded of
// one RPC) is returned and keeps the upload resumable: the next Advance sends
// the same message again (the caller's backoff decides when). Anything else
// ends it (ended() becomes true) and nothing further is sent: the protocol
// aborted on either side, the coordinator reports the round's aggregation
// ended, or the deadline passed. Not thread-safe: one caller at a time (the
// session runs one step at a time).
#ifndef FEDLEARN_CLIENT_SECURE_UPLOAD_H_
#define FEDLEARN_CLIENT_SECURE_UPLOAD_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/coordinator_transport.h"
#include "client/secagg/secagg_client.h"
#include "common/transport/tls_config.h"
#include "common/util/clock.h"

namespace fedlearn {

// The identity that signs this client's keys: its id as the coordinator
// knows it (certificate CN) and its TLS files. FailedPrecondition for an
// insecure (--insecure) client, which has no key to sign with.
absl::StatusOr<SecAggIdentity> LoadSecAggIdentity(const std::string& client_id,
                                                  const TlsConfig& tls);

class SecureUpload {
 public:
  struct Progress {
    bool done = false;  // the unmasking shares were delivered
    // When not done: ask again after this long (the coordinator's hint).
    uint32_t retry_after_ms = 0;
    // When not done: ask again now (a long poll, if the transport has one).
    bool poll_now = false;
  };

  // The longest a long poll asks the coordinator to hold it.
  static constexpr std::chrono::milliseconds kLongPollWait{10'000};

  // REQUIRES: task.secagg is set. InvalidArgument (from SecAggClient) when
  // `encoded` or `identity` does not fit the round's configuration. Nothing
  // is sent yet. `clear_eval_report` (per-site federated evaluation only)
  // travels in the clear with the masked input.
  static absl::StatusOr<std::unique_ptr<SecureUpload>> Start(
      const ReceivedTask& task, std::vector<uint32_t> encoded,
      SecAggIdentity identity, TimePoint deadline,
      std::vector<uint64_t> clear_eval_report = {});

  SecureUpload(const SecureUpload&) = delete;
  SecureUpload& operator=(const SecureUpload&) = delete;

  // One step of the upload at time `now` (see the file comment). Never
  // sleeps; makes as many RPCs as the protocol can advance without waiting.
  absl::StatusOr<Progress> Advance(CoordinatorTransport* transport,
                                   TimePoint now);

  // True when the next step is only a poll: nothing to send or upload.
  bool polls() const { return !ended_ && !outgoing_ && !masked_input_; }
  // How long a long poll at `now` may ask to wait: min(kLongPollWait, what
  // is left before the deadline); zero once the deadline passed.
  std::chrono::milliseconds PollWait(TimePoint now) const;
  // Advance() with the reply to the poll the caller made (SecAggPollAsync).
  // REQUIRES: polls() held when the poll was sent.
  absl::StatusOr<Progress> CompletePoll(
      CoordinatorTransport* transport, TimePoint now,
      absl::StatusOr<SecAggExchangeReply> reply);

  // True once done or failed for good: the caller discards the upload.
  bool ended() const { return ended_; }
  uint64_t round() const { return round_; }
  const std::string& run_id() const { return run_id_; }

 private:
  SecureUpload(const ReceivedTask& task, std::unique_ptr<SecAggClient> client,
               v1::SecAggClientMessage first, TimePoint deadline);

  // Returns `status`, ending the upload unless it is OK or a transient
  // transport failure.
  absl::Status Fail(absl::Status status);
  // Ends the upload if it ended or passed its deadline.
  absl::Status CheckLive(TimePoint now);
  // From the reply to one exchange (`sent`: it carried a message), as many
  // exchanges as the protocol can make without waiting.
  absl::StatusOr<Progress> Continue(CoordinatorTransport* transport,
                                    absl::StatusOr<SecAggExchangeReply> reply,
                                    bool sent);
  // Uploads the pending masked vector, if any.
  absl::Status PushPendingMaskedInput(CoordinatorTransport* transport);
  // Handles the coordinator's reply to one exchange (`sent`: it carried a
  // message); sets `*wait` when there is nothing to do until the next poll.
  absl::StatusOr<Progress> HandleReply(CoordinatorTransport* transport,
                                       SecAggExchangeReply reply, bool sent,
                                       bool* wait);

  const std::string run_id_;
  const uint64_t round_;
  const std::string session_id_;  // the task's SecAggConfig.session_id
  const uint64_t model_version_;
  const int masked_value_bytes_;
  const TimePoint deadline_;
  std::unique_ptr<SecAggClient> client_;
  std::optional<v1::SecAggClientMessage> outgoing_;
  std::optional<std::vector<uint32_t>> masked_input_;
  std::vector<uint64_t> clear_eval_report_;
  // The server keeps offering a phase's request until the phase closes; each
  // kind of request is handled once (they come in a fixed order).
  v1::SecAggServerMessage::MessageCase last_handled_ =
      v1::SecAggServerMessage::MESSAGE_NOT_SET;
  bool shares_sent_ = false;  // the last message (unmasking) is queued
  bool ended_ = false;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECURE_UPLOAD_H_
