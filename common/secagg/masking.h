// The masking arithmetic both sides must agree on (Bonawitz et al., CCS 2017,
// section 4): a client u sends
//   y_u = x_u + PRG(b_u) + sum_v sign(u, v) * PRG(KA(s_sk_u, s_pk_v))  mod 2^b
// with sign(u, v) = +1 if index(u) < index(v) and -1 otherwise, so the
// pairwise masks of two clients that both survive cancel in the sum. The
// server removes PRG(b_u) for survivors and, for a dropped v, the masks its
// surviving neighbours added towards it. All arithmetic is mod 2^32 and is
// reduced mod 2^b at the end; 2^b divides 2^32, so the result is exact.
//
// Masks stream into the accumulator (AddMask): no per-mask buffer. A
// MaskSet adds many masks at once over a MaskWorkerPool: first every mask
// key is derived (X25519 + HKDF, one task per mask), then the vector is cut
// into word ranges and each range task adds every mask's words of that range
// into it (so the range stays in cache and the threads write disjoint
// words). Addition mod 2^32 commutes, so the result is bit-for-bit the
// sequential one for any pool size; the only extra memory is 32 bytes of
// key per mask, whatever D.
#ifndef FEDLEARN_COMMON_SECAGG_MASKING_H_
#define FEDLEARN_COMMON_SECAGG_MASKING_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/crypto/key_agreement.h"
#include "common/crypto/secret_bytes.h"
#include "common/secagg/mask_worker_pool.h"
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

// The masks one party adds to (or removes from) one vector, applied
// together. Thread-compatible; ApplyTo runs on the pool it is given.
class MaskSet {
 public:
  explicit MaskSet(const SecAggParameters& params);

  // As AddSelfMask; the seed is copied.
  void AddSelf(const SecretBytes& self_mask_seed, int owner_index, int sign);
  // As AddPairwiseMask. REQUIRES: `masking_private_key` outlives ApplyTo.
  void AddPairwise(const X25519PrivateKey& masking_private_key,
                   std::string_view peer_masking_public_key, int owner_index,
                   int peer_index, int direction);
  size_t size() const { return masks_.size(); }

  // acc += every mask added, the same words as calling AddSelfMask /
  // AddPairwiseMask for each in turn. On error (a bad sign, seed or peer
  // key; the first in insertion order is returned) `acc` is untouched
  // unless OpenSSL itself fails mid-expansion.
  absl::Status ApplyTo(absl::Span<uint32_t> acc,
                       MaskWorkerPool& pool = MaskWorkerPool::Shared()) const;

  // Words per range task for a vector of `words` on `threads` threads:
  // about four tasks per thread (a slow or preempted thread does not hold
  // the batch up), at least 4096 words so per-task re-keying stays
  // negligible, at most 2^17 (512 KiB, inside L2), a multiple of 16 words
  // (whole AES blocks and cache lines).
  static size_t RangeWords(size_t words, int threads);

 private:
  struct Mask {
    SecretBytes seed;                       // self masks
    const X25519PrivateKey* key = nullptr;  // pairwise masks
    std::string peer_public_key;            // pairwise masks
    std::string domain;
    int sign = 0;
  };
  std::string session_id_;
  uint64_t round_;
  std::vector<Mask> masks_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_SECAGG_MASKING_H_
