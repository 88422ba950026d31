// The client side of one secure-aggregation round: practical secure
// aggregation (Bonawitz et al., CCS 2017), actively secure variant with the
// consistency check, over the SecAgg+ neighbour graph (Bell et al., CCS 2020).
//
// A thin facade: it owns the current phase's state (client/secagg/*_state.h)
// and swaps it after every message. It does no I/O and reads no clock; the
// caller moves messages and uploads the masked vector. Its randomness and
// its event listener are injected (SecAggClientEnvironment): with a seeded
// SecurePrng and a deterministic signature scheme (Ed25519) a run replays
// byte for byte. Not thread-safe: one thread drives a client.
//
// Usage: Create(), send Start()'s AdvertiseKeys, then pass every server
// message to Handle() and send what Reply holds: ShareKeysResponse,
// then the masked vector (after MaskedInputRequest), ConsistencyCheckResponse,
// UnmaskingResponse (done = true).
//
// Any violation (a message out of phase, a session/round mismatch, a bad
// signature or ciphertext, an inconsistent survivor list, a server Abort)
// aborts the client: Handle returns the reason, and every later call fails.
// An aborted client never contributes to a wrong sum; the server treats it as
// a dropout. abort_message() is then the Abort to send the server: its reason
// and, when key shares from some neighbours did not decrypt or authenticate,
// those senders in `blamed` (the coordinator keeps them out of the round's
// retry; docs/security.md). Secrets live in SecretBytes and are wiped as soon
// as a phase no longer needs them.
#ifndef FEDLEARN_CLIENT_SECAGG_SECAGG_CLIENT_H_
#define FEDLEARN_CLIENT_SECAGG_SECAGG_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/secagg/client_listener.h"
#include "client/secagg/client_state.h"
#include "common/crypto/secure_prng.h"
#include "proto/fedlearn/v1/secagg.pb.h"

namespace fedlearn {

// What a client draws randomness from and reports to. A null member gets
// the default: OsSecurePrng, LoggingSecAggClientListener.
struct SecAggClientEnvironment {
  std::unique_ptr<SecurePrng> prng;
  std::unique_ptr<SecAggClientListener> listener;
};

class SecAggClient {
 public:
  using Reply = SecAggClientReply;

  // `input`: the encoded update, length == vector_length, values <
  // 2^modulus_bits. InvalidArgument for a bad config, an identity not in the
  // cohort, a CA or private key that does not parse, or an input that does
  // not fit. The CA and the key are parsed here, once; the key's PEM is
  // wiped as soon as it is parsed.
  static absl::StatusOr<std::unique_ptr<SecAggClient>> Create(
      const v1::SecAggConfig& config, SecAggIdentity identity,
      std::vector<uint32_t> input, SecAggClientEnvironment environment = {});

  SecAggClient(const SecAggClient&) = delete;
  SecAggClient& operator=(const SecAggClient&) = delete;

  // The AdvertiseKeys message; valid once, first.
  absl::StatusOr<v1::SecAggClientMessage> Start();
  // Handles one server message valid in the current phase; any violation
  // aborts the client (returns the reason; further calls fail).
  absl::StatusOr<Reply> Handle(const v1::SecAggServerMessage& message);

  bool aborted() const { return !abort_reason_.ok(); }
  absl::Status abort_reason() const { return abort_reason_; }
  // Once aborted (not by the server's own Abort): the Abort message to send
  // the server, stamped with this round. nullopt otherwise.
  const std::optional<v1::SecAggClientMessage>& abort_message() const {
    return abort_message_;
  }
  // The current phase's name, for logs.
  const char* phase() const { return state_->Name(); }
  const std::string& client_id() const { return context_->self_id(); }

 private:
  SecAggClient(std::shared_ptr<const ClientRoundContext> context,
               std::unique_ptr<SecAggClientState> state,
               std::unique_ptr<SecAggClientListener> listener)
      : context_(std::move(context)),
        listener_(std::move(listener)),
        state_(std::move(state)) {}
  // `tell_server`: queue abort_message() (not for the server's own Abort).
  absl::Status Abort(absl::Status reason, bool tell_server = true);
  // Swaps in `next` and tells the listener.
  void Enter(std::unique_ptr<SecAggClientState> next);

  std::shared_ptr<const ClientRoundContext> context_;
  std::unique_ptr<SecAggClientListener> listener_;  // never null
  std::unique_ptr<SecAggClientState> state_;
  absl::Status abort_reason_;
  std::optional<v1::SecAggClientMessage> abort_message_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECAGG_SECAGG_CLIENT_H_
