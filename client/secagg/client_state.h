// The pieces every client-side secure-aggregation state shares: the round's
// context (validated parameters, this client's identity and position), what a
// state hands back (a message and/or the masked vector to send), and the
// state interface itself.
//
// A state handles exactly the server messages valid in its phase and returns
// its successor; anything else is an error, on which the facade
// (secagg_client.h) aborts the client. States never do I/O, never read a
// clock and never log: the caller moves messages, every random byte comes
// from the context's SecurePrng (so a seeded one replays a run exactly), and
// the facade reports events to a listener. States are not thread-safe: one
// thread drives a client.
#ifndef FEDLEARN_CLIENT_SECAGG_CLIENT_STATE_H_
#define FEDLEARN_CLIENT_SECAGG_CLIENT_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/key_agreement.h"
#include "common/crypto/secret_bytes.h"
#include "common/crypto/secure_prng.h"
#include "common/crypto/signature.h"
#include "common/secagg/secagg_config.h"
#include "proto/fedlearn/v1/secagg.pb.h"

namespace fedlearn {

// Who this client is: its TLS certificate and key sign its secure-aggregation
// keys, and every neighbour's certificate must chain to `ca_pem`. The key is
// either `key_pem` or, already parsed, `signing_key` (identity_cache.h: one
// parse per client, shared by its rounds); when `signing_key` is set,
// `key_pem` is ignored and may be empty.
struct SecAggIdentity {
  std::string client_id;
  std::string cert_pem;
  SecretBytes key_pem;
  std::string ca_pem;
  std::shared_ptr<const SigningKey> signing_key;
};

struct SecAggClientReply {
  std::optional<v1::SecAggClientMessage> message;     // to send
  std::optional<std::vector<uint32_t>> masked_input;  // to upload
  bool done = false;                                  // after UnmaskingResponse
};

struct ClientRoundContext {
  SecAggParameters params;
  int self_index = 0;
  // identity.key_pem is empty here: the facade parses it into `signing_key`
  // (unless the identity came with the key parsed) and wipes the PEM at
  // Create.
  SecAggIdentity identity;
  // Parsed once per client (at Create), not once per use: the CA checks
  // every neighbour's certificate, the key signs twice per round.
  CertificateVerifier ca;
  std::shared_ptr<const SigningKey> signing_key;  // never null
  // Every random draw of the states: key pairs, the self-mask seed, Shamir
  // coefficients, AEAD nonces. Never null; the OS CSPRNG unless injected.
  std::unique_ptr<SecurePrng> prng;

  const std::string& self_id() const { return params.cohort[self_index]; }
  // A client message stamped with this round's session id and round.
  v1::SecAggClientMessage NewMessage() const;
};

// A neighbour's keys as it advertised them (signature already verified),
// and its certificate's key, checked against the CA and its id once per
// session so later signatures (the consistency check) cost one verification.
struct NeighbourKeys {
  std::string encryption_public_key;
  std::string masking_public_key;
  VerifiedIdentity signer;
};

class SecAggClientState {
 public:
  struct Transition {
    std::unique_ptr<SecAggClientState> next;
    SecAggClientReply reply;
  };

  virtual ~SecAggClientState() = default;
  virtual const char* Name() const = 0;
  // Only the initial state accepts it.
  virtual absl::StatusOr<Transition> Start();
  // `message` carries this round's session and round and is not an Abort
  // (the facade checks both).
  virtual absl::StatusOr<Transition> Handle(
      const v1::SecAggServerMessage& message) = 0;
  // After Handle failed: the cohort ids (sorted) whose key shares this
  // client could not decrypt or authenticate, for Abort.blamed. Empty for
  // every other failure.
  virtual std::vector<std::string> BlamedSenders() const { return {}; }

 protected:
  absl::Status UnexpectedMessage(const v1::SecAggServerMessage& message) const;
};

// The name of the oneof case, for error messages.
const char* ServerMessageName(const v1::SecAggServerMessage& message);

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECAGG_CLIENT_STATE_H_
