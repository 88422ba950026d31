// The pseudorandom generator that expands a 256-bit seed into a mask:
// AES-256-CTR over a zero stream, keyed by HKDF-SHA256(seed, salt =
// "fedlearn/secagg/prg/v1", info = domain), where `domain` separates
// session, round, mask kind and vector name, so no two masks ever share a
// keystream. Output words are little-endian uint32.
#ifndef FEDLEARN_COMMON_CRYPTO_MASK_PRG_H_
#define FEDLEARN_COMMON_CRYPTO_MASK_PRG_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/crypto/secret_bytes.h"

namespace fedlearn {

inline constexpr size_t kPrgSeedBytes = 32;

// out[i] = keystream word i (mod 2^32), for i in [0, out.size()).
absl::Status ExpandMask(const SecretBytes& seed, std::string_view domain,
                        absl::Span<uint32_t> out);
// acc[i] += sign * keystream word i (mod 2^32); sign is +1 or -1. Streams in
// blocks so a 1e7-word mask never needs its own buffer.
absl::Status AddMask(const SecretBytes& seed, std::string_view domain, int sign,
                     absl::Span<uint32_t> acc);

// The keystream core on its own: `length` bytes of AES-256-CTR over zeros,
// starting from the 16-byte counter block `initial_counter` (incremented as
// one big-endian 128-bit integer). The masks above use it with the derived
// key and an all-zero initial block. Exposed so tests can check it against
// NIST SP 800-38A F.5.5.
absl::StatusOr<std::string> Aes256CtrKeystreamForTesting(
    const SecretBytes& key, std::string_view initial_counter, size_t length);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_MASK_PRG_H_
