// Round 2 ("MaskedInputCollection"): the server forwards the ciphertexts
// addressed to this client by the neighbours that shared keys (U2). The
// client decrypts each one, aborting on a sender that is not an advertised
// neighbour, a duplicate sender, a misaddressed envelope, or fewer than
// t - 1 senders. Ciphertexts that fail AEAD authentication (tampering, wrong
// key or wrong session/round/sender/recipient in the AAD) or hold plaintext
// that does not decode, names another sender/recipient, or is not at this
// client's x are all examined before it aborts, and their senders are
// BlamedSenders(): the facade puts them in Abort.blamed so the coordinator
// can keep them out of the round's retry.
// It then masks its input, streaming every mask into the vector:
//   y = x + PRG(b) + sum_{v in senders} sign(u, v) PRG(KA(s_sk, s_pk_v)) mod
//   2^b
// Only neighbours it RECEIVED shares from are masked with: exactly those
// whose masks the server can remove if they drop (they hold u's shares too).
// The k + 1 masks are expanded together by one MaskSet on
// MaskWorkerPool::Shared() (the same words as adding them one by one); the
// ciphertexts are opened on the same pool, after the routing checks, each
// under the key ShareKeysState derived for that neighbour (the one it sealed
// its own shares under: no second X25519).
// The key-share keys, s_sk and b are wiped when this state ends.
#ifndef FEDLEARN_CLIENT_SECAGG_MASKED_INPUT_STATE_H_
#define FEDLEARN_CLIENT_SECAGG_MASKED_INPUT_STATE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/secagg/client_state.h"
#include "common/crypto/key_agreement.h"
#include "common/crypto/shamir.h"
#include "common/secagg/key_shares.h"

namespace fedlearn {

class MaskedInputState : public SecAggClientState {
 public:
  MaskedInputState(std::shared_ptr<const ClientRoundContext> context,
                   std::vector<uint32_t> input,
                   std::map<int, SecretBytes> shares_keys,
                   SecretBytes masking_private_key, SecretBytes self_mask_seed,
                   ShamirShare own_seed_share,
                   std::map<int, NeighbourKeys> neighbours)
      : context_(std::move(context)),
        input_(std::move(input)),
        shares_keys_(std::move(shares_keys)),
        masking_private_key_(std::move(masking_private_key)),
        self_mask_seed_(std::move(self_mask_seed)),
        own_seed_share_(std::move(own_seed_share)),
        neighbours_(std::move(neighbours)) {}
  ~MaskedInputState() override { WipeShamirShare(&own_seed_share_); }

  const char* Name() const override { return "MaskedInput"; }
  absl::StatusOr<Transition> Handle(
      const v1::SecAggServerMessage& message) override;
  std::vector<std::string> BlamedSenders() const override { return blamed_; }

 private:
  // Fills blamed_ (sorted) with the senders whose ciphertext failed.
  absl::StatusOr<std::map<int, KeyShares>> DecryptShares(
      const v1::MaskedInputRequest& request);
  // Opens the ciphertext of cohort client `sender`, an advertised neighbour.
  absl::StatusOr<KeyShares> OpenShares(const v1::EncryptedKeyShares& envelope,
                                       int sender) const;

  std::shared_ptr<const ClientRoundContext> context_;
  std::vector<uint32_t> input_;
  // DeriveKeySharesKey(c_sk, c_pk_v) of every advertised neighbour v, by
  // index (ShareKeysState derived them).
  std::map<int, SecretBytes> shares_keys_;
  SecretBytes masking_private_key_;
  SecretBytes self_mask_seed_;
  ShamirShare own_seed_share_;
  std::map<int, NeighbourKeys> neighbours_;
  std::vector<std::string> blamed_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECAGG_MASKED_INPUT_STATE_H_
