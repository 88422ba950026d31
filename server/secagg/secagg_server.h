// The server side of one secure-aggregation round: practical secure
// aggregation (Bonawitz et al., CCS 2017), actively secure variant with the
// consistency check, over the SecAgg+ neighbour graph (Bell et al., CCS 2020).
//
// A thin facade over one state per phase (server/secagg/*_state.h). It does
// no I/O and reads no clock: the caller (the round engine) feeds client
// messages and masked vectors in, sends what PendingMessageFor() returns, and
// decides when a phase closes (AdvancePhase(): its deadline passed, or
// AllResponded()). A client that has not answered when its phase closes is a
// dropout from then on. Events (phases closed and entered, dropouts,
// exclusions, aborts with reasons) go to an injected SecAggServerListener;
// the default logs them through spdlog. Not thread-safe: the caller
// serializes every call (the round engine holds its lock).
//
// Guarantees: the result is exactly the sum mod 2^b of the inputs of
// Survivors() (U3), or the round aborts with a reason; never a wrong sum from
// too few or inconsistent shares. The server learns at most one of the two
// secrets (self-mask seed, masking key) of any client, enforced by the
// unmasking phase and recorded in a ledger tests can read. Memory is O(D + n
// * k): masked inputs are folded into one running sum as they arrive.
#ifndef FEDLEARN_SERVER_SECAGG_SECAGG_SERVER_H_
#define FEDLEARN_SERVER_SECAGG_SECAGG_SERVER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/fedlearn/v1/secagg.pb.h"
#include "server/secagg/server_listener.h"
#include "server/secagg/server_state.h"

namespace fedlearn {

// What the server reports to, and what checks advertisements. A null
// listener gets the default, LoggingSecAggServerListener; a null verifier
// means AdvertiseKeys are checked for size and duplicates only (each client
// still verifies its neighbours' keys and aborts on a bad one).
struct SecAggServerEnvironment {
  std::unique_ptr<SecAggServerListener> listener;
  std::shared_ptr<const AdvertisementVerifier> verifier;
};

class SecAggServer {
 public:
  using Phase = SecAggServerPhase;

  // InvalidArgument for a config SecAggParameters::FromProto refuses.
  static absl::StatusOr<std::unique_ptr<SecAggServer>> Create(
      const v1::SecAggConfig& config, SecAggServerEnvironment environment = {});

  SecAggServer(const SecAggServer&) = delete;
  SecAggServer& operator=(const SecAggServer&) = delete;

  Phase phase() const { return state_->phase(); }
  const char* phase_name() const { return SecAggServerPhaseName(phase()); }

  // A message from a cohort client, valid only in its phase: FailedPrecondition
  // otherwise (also for a client that dropped out or aborted), NotFound for a
  // non-cohort client, AlreadyExists for a duplicate, InvalidArgument for a
  // malformed message or one from another session/round, Unauthenticated
  // for an advertisement the verifier refuses (the client is then a
  // dropout). An Abort from a client is accepted in any phase and makes it
  // a dropout; its `blamed` list is bounded and reported (OnBlameLodged)
  // only for entries that are neighbours in U2 of an accuser in U2.
  absl::Status HandleMessage(const std::string& client_id,
                             const v1::SecAggClientMessage& message);
  // A masked input during kMaskedInputCollection, folded at once into the
  // running sum. Length must equal vector_length; values < 2^b.
  absl::Status HandleMaskedInput(const std::string& client_id,
                                 absl::Span<const uint32_t> masked);
  // What the server has for this client now, or nullopt: the request of the
  // current phase (after AdvancePhase()) until the client answered it, or
  // Abort(reason) once aborted.
  std::optional<v1::SecAggServerMessage> PendingMessageFor(
      const std::string& client_id) const;
  // Every client still active answered the current phase.
  bool AllResponded() const;
  // Closes the current phase; non-responders are dropouts. OK if the next
  // phase began (or the round completed); otherwise the round is now kAborted
  // and the reason is returned (also from abort_reason()). FailedPrecondition
  // in kCompleted / kAborted.
  absl::Status AdvancePhase();
  // Aborts the round from outside (e.g. the engine shuts down).
  void Abort(const std::string& reason);
  // Σ_{u in U3} x_u mod 2^b, once, after kCompleted.
  absl::StatusOr<std::vector<uint32_t>> TakeResult();
  // U3: whose inputs the sum contains (empty until masked-input collection
  // closed).
  std::vector<std::string> Survivors() const { return context_->survivors; }
  // OK unless aborted.
  absl::Status abort_reason() const { return abort_reason_; }

  // Test-only: the clients for which the server accepted shares of, or
  // rebuilt, both secrets. Always empty.
  std::vector<std::string> ClientsWithBothSecretsForTesting() const;
  const ShareLedger& share_ledger_for_testing() const {
    return context_->ledger;
  }

 private:
  SecAggServer(std::shared_ptr<ServerRoundContext> context,
               std::unique_ptr<SecAggServerState> state)
      : context_(std::move(context)), state_(std::move(state)) {}
  absl::StatusOr<int> IndexOf(const std::string& client_id) const;
  // Reports the valid part of the blame in `abort` from cohort client
  // `index`.
  void RecordBlame(int index, const v1::Abort& abort);

  std::shared_ptr<ServerRoundContext> context_;
  std::unique_ptr<SecAggServerState> state_;
  absl::Status abort_reason_;
  bool result_taken_ = false;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_SECAGG_SERVER_H_
