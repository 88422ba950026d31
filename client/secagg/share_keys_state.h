// Round 1 ("ShareKeys"): the client checks its neighbours' advertised keys
// and deals its secrets. It aborts on keys from a non-neighbour or a
// non-cohort id, the same neighbour twice, a public key that appears twice
// anywhere (including its own), a certificate that does not chain to the CA
// or is not the neighbour's, a signature that does not verify over (session,
// round, id, keys), or fewer than t - 1 neighbours' keys (its secrets would
// be unrecoverable). Otherwise it draws the self-mask seed b, Shamir-shares b
// and s_sk among its k neighbours and itself (t of k + 1), and encrypts each
// advertising neighbour's pair of shares under HKDF(X25519(c_sk, c_pk_v)).
// b, the Shamir coefficients and the AEAD nonces come from the context's
// SecurePrng. That key is the one v's shares to this client are sealed under
// too (KeySharesKeyInfo orders the pair), so it is derived once here and
// handed to MaskedInputState with the neighbours: c_sk is not needed after
// this phase, and each neighbour costs one X25519 per round, not two.
#ifndef FEDLEARN_CLIENT_SECAGG_SHARE_KEYS_STATE_H_
#define FEDLEARN_CLIENT_SECAGG_SHARE_KEYS_STATE_H_

#include <memory>
#include <vector>

#include "client/secagg/client_state.h"
#include "common/crypto/key_agreement.h"
#include "common/secagg/key_shares.h"

namespace fedlearn {

class ShareKeysState : public SecAggClientState {
 public:
  ShareKeysState(std::shared_ptr<const ClientRoundContext> context,
                 std::vector<uint32_t> input, X25519KeyPair encryption_keys,
                 X25519KeyPair masking_keys)
      : context_(std::move(context)),
        input_(std::move(input)),
        encryption_keys_(std::move(encryption_keys)),
        masking_keys_(std::move(masking_keys)) {}

  const char* Name() const override { return "ShareKeys"; }
  absl::StatusOr<Transition> Handle(
      const v1::SecAggServerMessage& message) override;

 private:
  absl::StatusOr<std::map<int, NeighbourKeys>> VerifyNeighbourKeys(
      const v1::ShareKeysRequest& request) const;
  // The AEAD ciphertext of `plain` under `key`, the one both ends derive
  // from X25519(c_sk, c_pk_holder) (DeriveKeySharesKey).
  absl::StatusOr<std::string> SealShares(const KeyShares& plain,
                                         const SecretBytes& key) const;
  // DeriveKeySharesKey for every neighbour that advertised keys, by index.
  absl::StatusOr<std::map<int, SecretBytes>> DeriveSharesKeys(
      const std::map<int, NeighbourKeys>& neighbours) const;

  std::shared_ptr<const ClientRoundContext> context_;
  std::vector<uint32_t> input_;
  X25519KeyPair encryption_keys_;
  X25519KeyPair masking_keys_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECAGG_SHARE_KEYS_STATE_H_
