// Server round 0: collect AdvertiseKeys from the cohort. Refuses a message
// whose client id differs from the sender, malformed keys, and a public key
// some client already advertised (a copied key would let its owner decrypt
// shares meant for another). With a verifier (advertisement_verifier.h) it
// also checks the certificate and signature, as every recipient will: a
// client whose advertisement fails is rejected (Unauthenticated), reported
// to the listener and is a dropout of this phase, so the others go on.
// Clients still verify every neighbour's keys themselves.
//
// Advance(): U1 = advertisers, minus any client with fewer than t - 1
// advertising neighbours (it could never have its secrets rebuilt; removing
// it may leave others short, so this repeats until stable). Aborts if fewer
// than t remain. Each client in U1 gets a ShareKeysRequest with the keys of
// its neighbours in U1.
#ifndef FEDLEARN_SERVER_SECAGG_ADVERTISE_KEYS_STATE_H_
#define FEDLEARN_SERVER_SECAGG_ADVERTISE_KEYS_STATE_H_

#include <set>
#include <string>

#include "server/secagg/server_state.h"

namespace fedlearn {

class AdvertiseKeysServerState : public SecAggServerState {
 public:
  explicit AdvertiseKeysServerState(
      std::shared_ptr<ServerRoundContext> context);
  SecAggServerPhase phase() const override {
    return SecAggServerPhase::kAdvertiseKeys;
  }
  absl::StatusOr<std::unique_ptr<SecAggServerState>> Advance() override;

 protected:
  absl::Status HandlePhaseMessage(
      int index, const v1::SecAggClientMessage& message) override;

 private:
  std::set<std::string> public_keys_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_ADVERTISE_KEYS_STATE_H_
