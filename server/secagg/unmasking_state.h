// Server round 4: collect revealed shares and remove the masks.
//
// Which secret of a client the server may learn is fixed by U3 alone: the
// self-mask seed b_u if u is in U3, the masking key s_sk_v if v shared keys
// (U2) but is not in U3. A response must hold exactly the shares its sender
// can give under that rule (its own seed share; one share for each neighbour
// in U2, of the kind the rule fixes), each at its sender's x-coordinate. A
// client may not reveal its own masking key. So the server structurally never
// accepts, let alone reconstructs, both secrets of one client; the ledger
// records what it took in, for tests to check.
//
// Advance(): with the shares of U5 (responders) it rebuilds every survivor's
// seed and every needed dropped masking key (t shares each; with more than
// t, a second t-subset must agree, and a rebuilt masking key must match the
// advertised public key), then subtracts PRG(b_u) for each survivor and the
// pairwise masks survivors added towards dropped clients. Too few or
// inconsistent shares abort the round with the reason: never a wrong sum.
// The masks are removed together by one MaskSet on MaskWorkerPool::Shared()
// (every core, capped; the same words as removing them one by one), so
// Advance() blocks its caller while the pool's threads help.
#ifndef FEDLEARN_SERVER_SECAGG_UNMASKING_STATE_H_
#define FEDLEARN_SERVER_SECAGG_UNMASKING_STATE_H_

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "common/crypto/shamir.h"
#include "server/secagg/server_state.h"

namespace fedlearn {

class UnmaskingServerState : public SecAggServerState {
 public:
  UnmaskingServerState(std::shared_ptr<ServerRoundContext> context,
                       std::set<int> u2, std::set<int> u3, std::set<int> u4)
      : SecAggServerState(std::move(context), u4),
        u2_(std::move(u2)),
        u3_(std::move(u3)) {}
  ~UnmaskingServerState() override;
  SecAggServerPhase phase() const override {
    return SecAggServerPhase::kUnmasking;
  }
  absl::StatusOr<std::unique_ptr<SecAggServerState>> Advance() override;

  // The only kind of secret of `owner` the server may learn, if any.
  std::optional<SecretKind> PermittedSecret(int owner) const;

 protected:
  absl::Status HandlePhaseMessage(
      int index, const v1::SecAggClientMessage& message) override;

 private:
  // Records the checked shares of one response in the ledger and the
  // stores, refusing a second kind of secret for any owner.
  absl::Status Accept(std::map<int, std::pair<SecretKind, ShamirShare>> taken);
  absl::StatusOr<SecretBytes> Reconstruct(int owner, SecretKind kind);

  std::set<int> u2_;
  std::set<int> u3_;
  std::map<int, std::vector<ShamirShare>> seed_shares_;  // by owner
  std::map<int, std::vector<ShamirShare>> key_shares_;   // by owner
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_UNMASKING_STATE_H_
