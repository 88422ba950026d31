// X25519 key agreement (RFC 7748) and HKDF-SHA256 (RFC 5869), OpenSSL EVP.
#ifndef FEDLEARN_COMMON_CRYPTO_KEY_AGREEMENT_H_
#define FEDLEARN_COMMON_CRYPTO_KEY_AGREEMENT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/secret_bytes.h"
#include "common/crypto/secure_prng.h"

namespace fedlearn {

inline constexpr size_t kX25519KeyBytes = 32;

struct X25519KeyPair {
  SecretBytes private_key;  // 32 bytes
  std::string public_key;   // 32 bytes, raw
};

// Fresh key pair: 32 bytes from `prng` as the private key (X25519 clamps
// any 32 bytes into a valid scalar, RFC 7748 section 5).
absl::StatusOr<X25519KeyPair> GenerateX25519KeyPair(
    SecurePrng& prng = OsPrng());
// Rebuilds the pair from a raw 32-byte private key (e.g. reconstructed from
// Shamir shares); derives the public key.
absl::StatusOr<X25519KeyPair> X25519KeyPairFromPrivate(
    const SecretBytes& private_key);
// The raw 32-byte shared secret. InvalidArgument for a wrong-size key or an
// all-zero result (a low-order peer key, RFC 7748 section 6.1).
absl::StatusOr<SecretBytes> X25519SharedSecret(
    const SecretBytes& private_key, std::string_view peer_public_key);
// HKDF-SHA256 (extract then expand) to `length` bytes.
absl::StatusOr<SecretBytes> HkdfSha256(const SecretBytes& ikm,
                                       std::string_view salt,
                                       std::string_view info, size_t length);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_KEY_AGREEMENT_H_
