// The masking arithmetic both sides must agree on (Bonawitz et al., CCS 2017,
// section 4): a client u sends
//   y_u = x_u + PRG(b_u) + sum_v sign(u, v) * PRG(KA(s_sk_u, s_pk_v))  mod 2^b
// with sign(u, v) = +1 if index(u) < index(v) and -1 otherwise, so the
// pairwise masks of two clients that both survive cancel in the sum. The
// server removes PRG(b_u) for survivors and, for a dropped v, the masks its
// surviving neighbours added towards it. All arithmetic is mod 2^32 and is
// reduced mod 2^b at the end; 2^b divides 2^32, so the result is exact.
//
// Masks stream into the accumulator (AddMask): no per-mask buffer.
#ifndef FEDLEARN_COMMON_SECAGG_MASKING_H_
#define FEDLEARN_COMMON_SECAGG_MASKING_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/crypto/key_agreement.h"
#include "common/crypto/secret_bytes.h"
#include "common/secagg/secagg_config.h"

namespace fedlearn {

// +1 if self_index < other_index, -1 otherwise.
inline int PairwiseMaskSign(int self_index, int other_index) {
  return self_index < other_index ? 1 : -1;
}

// values[i] &= modulus_mask.
void ReduceModulo(absl::Span<uint32_t> values, uint32_t modulus_mask);

// The AES-GCM key two clients use for the key shares they send each other:
// HKDF-SHA256(X25519(c_sk_self, c_pk_peer), info = KeySharesKeyInfo).
absl::StatusOr<SecretBytes> DeriveKeySharesKey(
    const SecretBytes& encryption_private_key,
    std::string_view peer_encryption_public_key, const SecAggParameters& params,
    int self_index, int peer_index);
// The same with the private key parsed once (one per neighbour loop).
absl::StatusOr<SecretBytes> DeriveKeySharesKey(
    const X25519PrivateKey& encryption_private_key,
    std::string_view peer_encryption_public_key, const SecAggParameters& params,
    int self_index, int peer_index);

// acc += sign * PRG(seed, self domain of `owner_index`).
absl::Status AddSelfMask(const SecretBytes& self_mask_seed,
                         const SecAggParameters& params, int owner_index,
                         int sign, absl::Span<uint32_t> acc);

// acc += direction * sign(owner, peer) * PRG(KA(s_sk_owner, s_pk_peer)): with
// direction +1 the mask `owner` adds towards `peer`; -1 removes it.
absl::Status AddPairwiseMask(const SecretBytes& masking_private_key,
                             std::string_view peer_masking_public_key,
                             const SecAggParameters& params, int owner_index,
                             int peer_index, int direction,
                             absl::Span<uint32_t> acc);
// The same with the private key parsed once (one per neighbour loop).
absl::Status AddPairwiseMask(const X25519PrivateKey& masking_private_key,
                             std::string_view peer_masking_public_key,
                             const SecAggParameters& params, int owner_index,
                             int peer_index, int direction,
                             absl::Span<uint32_t> acc);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_SECAGG_MASKING_H_
