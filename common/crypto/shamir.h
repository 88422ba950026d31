// Shamir t-of-n secret sharing over the prime field GF(p), p = 2^61 - 1,
// with native 128-bit arithmetic. A secret of any length is split into
// 7-byte chunks (56 bits < 61), each shared with its own random polynomial
// of degree t-1 (coefficients from a SecurePrng, the OS CSPRNG by default).
// Share x-coordinates are the participants' 1-based indices. Any t shares
// reconstruct the secret; t-1 shares are consistent with every possible secret.
#ifndef FEDLEARN_COMMON_CRYPTO_SHAMIR_H_
#define FEDLEARN_COMMON_CRYPTO_SHAMIR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/secret_bytes.h"
#include "common/crypto/secure_prng.h"

namespace fedlearn {

inline constexpr uint64_t kShamirPrime = (uint64_t{1} << 61) - 1;

struct ShamirShare {
  uint32_t x = 0;           // evaluation point, >= 1
  std::vector<uint64_t> y;  // one field element per 7-byte chunk
  size_t secret_bytes = 0;  // length of the shared secret
};

// Shares at x = xs[i], polynomial coefficients drawn from `prng`.
// InvalidArgument if t < 1, t > xs.size(), an x is 0 or repeated.
absl::StatusOr<std::vector<ShamirShare>> ShamirSplit(
    const SecretBytes& secret, int threshold, const std::vector<uint32_t>& xs,
    SecurePrng& prng = OsPrng());
// Lagrange interpolation at 0 from exactly the first `threshold` shares
// given (more are ignored). InvalidArgument on fewer than `threshold`
// shares, duplicate x, inconsistent lengths or out-of-field values.
absl::StatusOr<SecretBytes> ShamirReconstruct(
    const std::vector<ShamirShare>& shares, int threshold);

// Field arithmetic, exposed for tests.
uint64_t FieldAdd(uint64_t a, uint64_t b);
uint64_t FieldSub(uint64_t a, uint64_t b);
uint64_t FieldMul(uint64_t a, uint64_t b);
uint64_t FieldInverse(uint64_t a);  // a != 0

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_SHAMIR_H_
