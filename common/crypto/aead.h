// AES-256-GCM (NIST SP 800-38D) for the key shares clients send each other
// through the server. Output: 12-byte random nonce (drawn from a
// SecurePrng) || ciphertext || 16-byte tag. Any flipped bit in nonce,
// ciphertext, tag or associated data makes Open() fail (DataLoss); it never
// returns unauthenticated plaintext.
#ifndef FEDLEARN_COMMON_CRYPTO_AEAD_H_
#define FEDLEARN_COMMON_CRYPTO_AEAD_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/secret_bytes.h"
#include "common/crypto/secure_prng.h"

namespace fedlearn {

inline constexpr size_t kAeadKeyBytes = 32;
inline constexpr size_t kAeadNonceBytes = 12;
inline constexpr size_t kAeadTagBytes = 16;

// The nonce is drawn from `prng` (tests pass a seeded one to replay a run).
absl::StatusOr<std::string> AeadSeal(const SecretBytes& key,
                                     std::string_view plaintext,
                                     std::string_view associated_data,
                                     SecurePrng& prng = OsPrng());
absl::StatusOr<SecretBytes> AeadOpen(const SecretBytes& key,
                                     std::string_view sealed,
                                     std::string_view associated_data);

// Deterministic-nonce variant for known-answer tests only.
absl::StatusOr<std::string> AeadSealWithNonceForTesting(
    const SecretBytes& key, std::string_view nonce, std::string_view plaintext,
    std::string_view associated_data);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_AEAD_H_
