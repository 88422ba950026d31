// What the server-side secure-aggregation states share: the round context
// (validated parameters, every cohort client's record, the running sum, the
// share ledger) and the state interface.
//
// Each phase knows which clients it expects (those still active), records
// who answered, and on Advance() decides who dropped out and builds the next
// phase, or fails with the reason the round must abort. States never do I/O,
// never read a clock and never log: the caller closes a phase, and events go
// to the context's listener. The server draws no randomness (the session id
// arrives in the config; see NewSecAggSessionId). Not thread-safe: the
// caller serializes every call into one round.
#ifndef FEDLEARN_SERVER_SECAGG_SERVER_STATE_H_
#define FEDLEARN_SERVER_SECAGG_SERVER_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/secagg/secagg_config.h"
#include "proto/fedlearn/v1/secagg.pb.h"
#include "server/secagg/advertisement_verifier.h"
#include "server/secagg/server_listener.h"
#include "server/secagg/server_phase.h"

namespace fedlearn {

// The two secrets of a client the server may learn; it learns at most one.
enum class SecretKind { kSelfMaskSeed, kMaskingKey };

// Which kind of share the server accepted and which secret it reconstructed,
// per client index. Kept so tests can assert the server never held both.
struct ShareLedger {
  std::map<int, std::set<SecretKind>> accepted;       // shares taken in
  std::map<int, std::set<SecretKind>> reconstructed;  // secrets rebuilt
};

struct ServerRoundContext {
  ServerRoundContext(SecAggParameters p,
                     std::unique_ptr<SecAggServerListener> l,
                     std::shared_ptr<const AdvertisementVerifier> v)
      : params(std::move(p)), listener(std::move(l)), verifier(std::move(v)) {
    advertised.resize(params.cohort.size());
  }
  SecAggParameters params;
  std::unique_ptr<SecAggServerListener> listener;  // never null
  // Checks each AdvertiseKeys before it is forwarded; null: sizes only.
  std::shared_ptr<const AdvertisementVerifier> verifier;
  // U2 once ShareKeys closed: the clients whose key shares were forwarded
  // (only their neighbours in U2 can be blamed for bad shares).
  std::set<int> shared_keys;
  // AdvertiseKeys of each client in U1 (empty if it did not advertise).
  std::vector<std::optional<v1::AdvertiseKeys>> advertised;
  std::vector<uint32_t> sum;           // running sum of masked inputs, D words
  std::vector<std::string> survivors;  // U3, sorted ids, once known
  ShareLedger ledger;

  v1::SecAggServerMessage NewMessage() const;
  const std::string& id(int index) const { return params.cohort[index]; }
};

class SecAggServerState {
 public:
  SecAggServerState(std::shared_ptr<ServerRoundContext> context,
                    std::set<int> expected)
      : context_(std::move(context)), expected_(std::move(expected)) {}
  virtual ~SecAggServerState() = default;

  virtual SecAggServerPhase phase() const = 0;
  // `message` is from cohort client `index`, carries this round's session
  // and round and is not an Abort (the facade checks those).
  absl::Status HandleMessage(int index, const v1::SecAggClientMessage& message);
  virtual absl::Status HandleMaskedInput(int index,
                                         absl::Span<const uint32_t> masked);
  // The client aborted: it is a dropout from now on.
  void HandleClientAbort(int index);
  // Closes the phase: the next state, or the reason the round aborts.
  virtual absl::StatusOr<std::unique_ptr<SecAggServerState>> Advance() = 0;

  std::optional<v1::SecAggServerMessage> PendingMessageFor(int index) const;
  bool AllResponded() const;
  // Clients expected in this phase that neither answered nor aborted: the
  // phase's dropouts if it closes now. Ascending.
  std::vector<int> NonResponders() const;
  // The requests that open this phase, by recipient (set by the previous
  // phase's Advance()).
  void SetRequests(std::map<int, v1::SecAggServerMessage> requests) {
    pending_ = std::move(requests);
  }

 protected:
  // Phase-specific handling of a message from an expected, not yet
  // responded client. Return OK to record it as responded.
  virtual absl::Status HandlePhaseMessage(
      int index, const v1::SecAggClientMessage& message);
  // The server itself found `index`'s message fraudulent: it is a dropout
  // of this phase from now on, as if it had aborted.
  void Reject(int index) { HandleClientAbort(index); }
  // Checks `index` may answer now; records nothing.
  absl::Status CheckMayRespond(int index) const;
  void MarkResponded(int index) { responded_.insert(index); }
  // Clients that answered and did not abort.
  std::set<int> Responders() const;

  std::shared_ptr<ServerRoundContext> context_;
  std::set<int> expected_;  // active in this phase (were sent its request)
  std::set<int> responded_;
  std::set<int> aborted_;
  std::map<int, v1::SecAggServerMessage> pending_;  // requests of this phase
};

// OK iff every secret the server will need can still be rebuilt from the
// shares `holders` can reveal: each survivor's (U3) self-mask seed from its
// neighbours in `holders` plus itself, and each dropped client's (U2 \ U3)
// masking key from its neighbours in `holders`, if any survivor masked with
// it. FailedPrecondition naming the first client that cannot be unmasked.
absl::Status CheckSecretsRecoverable(const SecAggParameters& params,
                                     const std::set<int>& shared_keys,
                                     const std::set<int>& survivors,
                                     const std::set<int>& holders);

// Members of `set` that neighbour `index` in the graph.
std::vector<int> NeighboursIn(const SecAggParameters& params, int index,
                              const std::set<int>& set);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_SERVER_STATE_H_
