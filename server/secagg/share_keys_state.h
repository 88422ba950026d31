// Server round 1: collect each U1 client's encrypted key shares. A response
// must hold exactly one ciphertext for each neighbour in U1 (the neighbours
// whose keys it was sent), with the right sender: a partial response would
// make pairwise masking asymmetric, so it is refused rather than stored.
//
// Advance(): U2 = responders; aborts if fewer than t. Each client in U2 gets
// a MaskedInputRequest with the ciphertexts addressed to it by its
// neighbours in U2, so u holds v's shares exactly when v holds u's.
#ifndef FEDLEARN_SERVER_SECAGG_SHARE_KEYS_STATE_H_
#define FEDLEARN_SERVER_SECAGG_SHARE_KEYS_STATE_H_

#include <map>
#include <set>
#include <string>

#include "server/secagg/server_state.h"

namespace fedlearn {

class ShareKeysServerState : public SecAggServerState {
 public:
  ShareKeysServerState(std::shared_ptr<ServerRoundContext> context,
                       std::set<int> u1)
      : SecAggServerState(std::move(context), u1), u1_(std::move(u1)) {}
  SecAggServerPhase phase() const override {
    return SecAggServerPhase::kShareKeys;
  }
  absl::StatusOr<std::unique_ptr<SecAggServerState>> Advance() override;

 protected:
  absl::Status HandlePhaseMessage(
      int index, const v1::SecAggClientMessage& message) override;

 private:
  std::set<int> u1_;
  // outgoing_[sender][recipient] = ciphertext.
  std::map<int, std::map<int, std::string>> outgoing_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_SHARE_KEYS_STATE_H_
