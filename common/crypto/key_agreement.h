// X25519 key agreement (RFC 7748) and HKDF-SHA256 (RFC 5869), OpenSSL EVP.
#ifndef FEDLEARN_COMMON_CRYPTO_KEY_AGREEMENT_H_
#define FEDLEARN_COMMON_CRYPTO_KEY_AGREEMENT_H_

#include <openssl/types.h>

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

// An X25519 private key parsed once, for the several agreements a
// secure-aggregation party makes with one key (one per neighbour): OpenSSL
// 3 spends more on building the key object than on the agreement itself.
// X25519SharedSecret(k, p) == X25519PrivateKey::Create(k)->SharedSecret(p).
// Move-only; the key object is freed (and wiped) by OpenSSL. SharedSecret
// is const and may run concurrently.
class X25519PrivateKey {
 public:
  // InvalidArgument unless `private_key` is 32 bytes.
  static absl::StatusOr<X25519PrivateKey> Create(
      const SecretBytes& private_key);

  X25519PrivateKey(X25519PrivateKey&&) noexcept;
  X25519PrivateKey& operator=(X25519PrivateKey&&) noexcept;
  X25519PrivateKey(const X25519PrivateKey&) = delete;
  X25519PrivateKey& operator=(const X25519PrivateKey&) = delete;
  ~X25519PrivateKey();

  // As X25519SharedSecret: InvalidArgument for a malformed or low-order
  // peer key (an all-zero secret is refused).
  absl::StatusOr<SecretBytes> SharedSecret(
      std::string_view peer_public_key) const;

 private:
  explicit X25519PrivateKey(evp_pkey_st* key) : key_(key) {}
  evp_pkey_st* key_ = nullptr;  // owned
};
// HKDF-SHA256 (extract then expand) to `length` bytes.
absl::StatusOr<SecretBytes> HkdfSha256(const SecretBytes& ikm,
                                       std::string_view salt,
                                       std::string_view info, size_t length);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_KEY_AGREEMENT_H_
