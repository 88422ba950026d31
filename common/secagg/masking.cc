#include "common/secagg/masking.h"

#include "common/crypto/aead.h"
#include "common/crypto/key_agreement.h"
#include "common/crypto/mask_prg.h"
#include "common/secagg/canonical_bytes.h"
#include "common/util/status_macros.h"

namespace fedlearn {

void ReduceModulo(absl::Span<uint32_t> values, uint32_t modulus_mask) {
  if (modulus_mask == 0xffffffffu) return;
  for (uint32_t& v : values) v &= modulus_mask;
}

absl::StatusOr<SecretBytes> DeriveKeySharesKey(
    const X25519PrivateKey& encryption_private_key,
    std::string_view peer_encryption_public_key, const SecAggParameters& params,
    int self_index, int peer_index) {
  ASSIGN_OR_RETURN(SecretBytes shared, encryption_private_key.SharedSecret(
                                           peer_encryption_public_key));
  return HkdfSha256(
      shared, "fedlearn/secagg/v1/key-shares-salt",
      KeySharesKeyInfo(params.session_id, params.round, self_index, peer_index),
      kAeadKeyBytes);
}

absl::StatusOr<SecretBytes> DeriveKeySharesKey(
    const SecretBytes& encryption_private_key,
    std::string_view peer_encryption_public_key, const SecAggParameters& params,
    int self_index, int peer_index) {
  ASSIGN_OR_RETURN(X25519PrivateKey key,
                   X25519PrivateKey::Create(encryption_private_key));
  return DeriveKeySharesKey(key, peer_encryption_public_key, params, self_index,
                            peer_index);
}

absl::Status AddSelfMask(const SecretBytes& self_mask_seed,
                         const SecAggParameters& params, int owner_index,
                         int sign, absl::Span<uint32_t> acc) {
  return AddMask(self_mask_seed,
                 MaskDomain(params.session_id, params.round, MaskKind::kSelf,
                            kSecAggUpdateVectorName, owner_index, owner_index),
                 sign, acc);
}

absl::Status AddPairwiseMask(const X25519PrivateKey& masking_private_key,
                             std::string_view peer_masking_public_key,
                             const SecAggParameters& params, int owner_index,
                             int peer_index, int direction,
                             absl::Span<uint32_t> acc) {
  ASSIGN_OR_RETURN(SecretBytes seed,
                   masking_private_key.SharedSecret(peer_masking_public_key));
  return AddMask(seed,
                 MaskDomain(params.session_id, params.round, MaskKind::kPair,
                            kSecAggUpdateVectorName, owner_index, peer_index),
                 direction * PairwiseMaskSign(owner_index, peer_index), acc);
}

absl::Status AddPairwiseMask(const SecretBytes& masking_private_key,
                             std::string_view peer_masking_public_key,
                             const SecAggParameters& params, int owner_index,
                             int peer_index, int direction,
                             absl::Span<uint32_t> acc) {
  ASSIGN_OR_RETURN(X25519PrivateKey key,
                   X25519PrivateKey::Create(masking_private_key));
  return AddPairwiseMask(key, peer_masking_public_key, params, owner_index,
                         peer_index, direction, acc);
}

}  // namespace fedlearn
