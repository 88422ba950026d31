// Where secure aggregation draws its randomness: one interface (after FCP's
// SecurePrng) with two implementations.
//
// - OsSecurePrng reads OpenSSL's private DRBG (RAND_priv_bytes, seeded by the
//   OS). It is the default everywhere, stateless and thread-safe; OsPrng()
//   returns a process-wide instance.
// - DeterministicPrngForTesting expands a seed into an AES-256-CTR keystream,
//   so a test can replay a whole protocol run byte for byte. FOR TESTS ONLY:
//   anyone who knows the seed knows every key it produced. No configuration
//   key selects it; production code never constructs one.
//
// Every draw of X25519 private keys, Shamir coefficients, self-mask seeds,
// AEAD nonces and session ids in the secure-aggregation code goes through a
// SecurePrng. Signatures are the exception: ECDSA's per-signature nonce is
// drawn inside OpenSSL (Ed25519 needs none, RFC 8032).
#ifndef FEDLEARN_COMMON_CRYPTO_SECURE_PRNG_H_
#define FEDLEARN_COMMON_CRYPTO_SECURE_PRNG_H_

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace fedlearn {

// A cryptographically secure source of uniform bytes. Implementations state
// their thread-safety.
class SecurePrng {
 public:
  virtual ~SecurePrng() = default;
  // Overwrites every byte of `out` with fresh random bytes. On error (the
  // generator failed; Internal) the contents of `out` are unspecified and
  // must not be used.
  virtual absl::Status Fill(absl::Span<uint8_t> out) = 0;
};

// OpenSSL's private DRBG. Thread-safe; holds no state of its own.
class OsSecurePrng final : public SecurePrng {
 public:
  absl::Status Fill(absl::Span<uint8_t> out) override;
};

// The process-wide OsSecurePrng: the default of every function and class
// that takes a SecurePrng.
SecurePrng& OsPrng();

// FOR TESTS ONLY. The keystream of AES-256-CTR (key = SHA-256(
// "fedlearn/secure-prng-for-testing/v1" || seed), initial counter block all
// zero) over zero bytes; consecutive Fill() calls continue one stream, so
// Fill(a) then Fill(b) yields the first a + b bytes. Equal seeds give equal
// streams; the seed may be any string. Thread-compatible: one instance per
// party, or external locking.
class DeterministicPrngForTesting final : public SecurePrng {
 public:
  explicit DeterministicPrngForTesting(std::string_view seed);
  ~DeterministicPrngForTesting() override;
  DeterministicPrngForTesting(const DeterministicPrngForTesting&) = delete;
  DeterministicPrngForTesting& operator=(const DeterministicPrngForTesting&) =
      delete;

  absl::Status Fill(absl::Span<uint8_t> out) override;

 private:
  struct CipherDeleter {
    void operator()(EVP_CIPHER_CTX* ctx) const;
  };

  uint8_t key_[32];                                     // wiped on destruction
  std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter> ctx_;  // set on first Fill
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_SECURE_PRNG_H_
