#include "common/secagg/masking.h"

#include <algorithm>
#include <optional>
#include <utility>

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

MaskSet::MaskSet(const SecAggParameters& params)
    : session_id_(params.session_id), round_(params.round) {}

void MaskSet::AddSelf(const SecretBytes& self_mask_seed, int owner_index,
                      int sign) {
  Mask m;
  m.seed = self_mask_seed.Clone();
  m.domain = MaskDomain(session_id_, round_, MaskKind::kSelf,
                        kSecAggUpdateVectorName, owner_index, owner_index);
  m.sign = sign;
  masks_.push_back(std::move(m));
}

void MaskSet::AddPairwise(const X25519PrivateKey& masking_private_key,
                          std::string_view peer_masking_public_key,
                          int owner_index, int peer_index, int direction) {
  Mask m;
  m.key = &masking_private_key;
  m.peer_public_key = std::string(peer_masking_public_key);
  m.domain = MaskDomain(session_id_, round_, MaskKind::kPair,
                        kSecAggUpdateVectorName, owner_index, peer_index);
  m.sign = direction * PairwiseMaskSign(owner_index, peer_index);
  masks_.push_back(std::move(m));
}

size_t MaskSet::RangeWords(size_t words, int threads) {
  constexpr size_t kMin = 4096, kMax = size_t{1} << 17, kAlign = 16;
  const size_t tasks = 4 * static_cast<size_t>(std::max(threads, 1));
  size_t range = (words + tasks - 1) / tasks;
  range = std::clamp(range, kMin, kMax);
  return (range + kAlign - 1) / kAlign * kAlign;
}

absl::Status MaskSet::ApplyTo(absl::Span<uint32_t> acc,
                              MaskWorkerPool& pool) const {
  // Phase 1: one key per mask (X25519 for pairwise masks, then HKDF).
  std::vector<std::optional<MaskKey>> keys(masks_.size());
  std::vector<absl::Status> derived(masks_.size());
  pool.ParallelFor(masks_.size(), [&](size_t i) {
    const Mask& m = masks_[i];
    if (m.sign != 1 && m.sign != -1) {
      derived[i] = absl::InvalidArgumentError("mask sign must be +1 or -1");
      return;
    }
    absl::StatusOr<MaskKey> key;
    if (m.key == nullptr) {
      key = MaskKey::Derive(m.seed, m.domain);
    } else {
      absl::StatusOr<SecretBytes> seed = m.key->SharedSecret(m.peer_public_key);
      key = seed.ok() ? MaskKey::Derive(*seed, m.domain) : seed.status();
    }
    if (key.ok()) {
      keys[i].emplace(*std::move(key));
    } else {
      derived[i] = key.status();
    }
  });
  for (const absl::Status& s : derived) RETURN_IF_ERROR(s);

  // Phase 2: disjoint word ranges, every mask's words of a range at once.
  const size_t range = RangeWords(acc.size(), pool.thread_limit());
  const size_t ranges = (acc.size() + range - 1) / range;
  std::vector<absl::Status> expanded(ranges);
  pool.ParallelFor(ranges, [&](size_t r) {
    const size_t first = r * range;
    absl::Span<uint32_t> part = acc.subspan(first, range);
    MaskRangeExpander expander;
    for (size_t i = 0; i < masks_.size() && expanded[r].ok(); ++i) {
      expanded[r] = expander.Add(*keys[i], masks_[i].sign, first, part);
    }
  });
  for (const absl::Status& s : expanded) RETURN_IF_ERROR(s);
  return absl::OkStatus();
}

}  // namespace fedlearn
