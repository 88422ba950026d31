// The canonical byte strings secure aggregation signs, authenticates and
// derives keys from. Every string starts with a distinct label
// ("fedlearn/secagg/v1/<purpose>") and encodes each field with a 4-byte
// big-endian length prefix (integers as 8-byte big-endian), so no two
// different tuples, and no two purposes, ever produce the same bytes. All
// of them bind the session id and round, which makes anything signed or
// encrypted in one round useless in any other.
#ifndef FEDLEARN_COMMON_SECAGG_CANONICAL_BYTES_H_
#define FEDLEARN_COMMON_SECAGG_CANONICAL_BYTES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fedlearn {

// The mask kinds of Bonawitz et al.: the self mask PRG(b_u) and the pairwise
// masks PRG(KA(s_sk_u, s_pk_v)).
enum class MaskKind { kSelf, kPair };

// The name of the one vector a round aggregates; part of every mask domain
// so a future second vector gets independent masks.
inline constexpr char kSecAggUpdateVectorName[] = "update";

// Signed by a client with its TLS key in AdvertiseKeys.
std::string AdvertiseSignaturePayload(std::string_view session_id,
                                      uint64_t round,
                                      std::string_view client_id,
                                      std::string_view encryption_public_key,
                                      std::string_view masking_public_key);
// Signed in ConsistencyCheckResponse; `survivors` is U3, sorted.
std::string ConsistencySignaturePayload(
    std::string_view session_id, uint64_t round,
    const std::vector<std::string>& survivors);
// AEAD associated data of the key shares `sender` encrypts for `recipient`.
std::string KeySharesAssociatedData(std::string_view session_id, uint64_t round,
                                    std::string_view sender,
                                    std::string_view recipient);
// HKDF info for the AEAD key between two clients (indices in either order:
// both directions derive the same key; the AAD separates them).
std::string KeySharesKeyInfo(std::string_view session_id, uint64_t round,
                             int index_a, int index_b);
// PRG domain (common/crypto/mask_prg.h). For kSelf, `index_a` is the owner
// and `index_b` is ignored; for kPair the pair is taken unordered, so both
// ends expand the same mask.
std::string MaskDomain(std::string_view session_id, uint64_t round,
                       MaskKind kind, std::string_view vector_name, int index_a,
                       int index_b);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_SECAGG_CANONICAL_BYTES_H_
