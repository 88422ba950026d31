// Round 0 (Bonawitz et al., fig. 4 "AdvertiseKeys"): the client generates two
// fresh X25519 key pairs, (c_pk, c_sk) to encrypt key shares and (s_pk, s_sk)
// for pairwise masks, and signs both public keys, bound to the session,
// round and its id, with its TLS key. Accepts only Start(); every server
// message is premature here.
#ifndef FEDLEARN_CLIENT_SECAGG_ADVERTISE_KEYS_STATE_H_
#define FEDLEARN_CLIENT_SECAGG_ADVERTISE_KEYS_STATE_H_

#include <memory>
#include <vector>

#include "client/secagg/client_state.h"

namespace fedlearn {

class AdvertiseKeysState : public SecAggClientState {
 public:
  AdvertiseKeysState(std::shared_ptr<const ClientRoundContext> context,
                     std::vector<uint32_t> input)
      : context_(std::move(context)), input_(std::move(input)) {}

  const char* Name() const override { return "AdvertiseKeys"; }
  absl::StatusOr<Transition> Start() override;
  absl::StatusOr<Transition> Handle(
      const v1::SecAggServerMessage& message) override;

 private:
  std::shared_ptr<const ClientRoundContext> context_;
  std::vector<uint32_t> input_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECAGG_ADVERTISE_KEYS_STATE_H_
