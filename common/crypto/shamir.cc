#include "common/crypto/shamir.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// 7 bytes = 56 bits per field element: every chunk value is < 2^56 < p, so
// the encoding is injective and a reconstructed value >= 2^56 can only come
// from inconsistent shares.
constexpr size_t kChunkBytes = 7;

size_t NumChunks(size_t secret_bytes) {
  return (secret_bytes + kChunkBytes - 1) / kChunkBytes;
}

// Folds any 64-bit value into [0, p): 2^61 == 1 (mod p).
inline uint64_t Reduce64(uint64_t a) {
  a = (a & kShamirPrime) + (a >> 61);
  return a >= kShamirPrime ? a - kShamirPrime : a;
}

// Fills `out` with independent elements uniform in [0, p): each candidate
// takes 61 bits of 8 little-endian bytes from `prng` and is rejected if it
// equals p (probability 2^-61), so there is no modulo bias. Reading the
// bytes as little-endian keeps a seeded run identical on every platform.
absl::Status RandomFieldElements(SecurePrng& prng, uint64_t* out, size_t n) {
  for (size_t i = 0; i < n;) {
    uint8_t bytes[8];
    RETURN_IF_ERROR(prng.Fill(absl::MakeSpan(bytes)));
    uint64_t candidate = 0;
    for (int k = 0; k < 8; ++k) candidate |= uint64_t{bytes[k]} << (8 * k);
    OPENSSL_cleanse(bytes, sizeof(bytes));
    candidate &= kShamirPrime;
    if (candidate < kShamirPrime) out[i++] = candidate;
    OPENSSL_cleanse(&candidate, sizeof(candidate));
  }
  return absl::OkStatus();
}

absl::Status CheckXs(const std::vector<uint32_t>& xs) {
  std::set<uint32_t> seen;
  for (uint32_t x : xs) {
    if (x == 0) {
      return absl::InvalidArgumentError(
          "Shamir share x must be >= 1 (x = 0 is the secret)");
    }
    if (!seen.insert(x).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("Shamir share x = ", x, " is repeated"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t FieldAdd(uint64_t a, uint64_t b) {
  return Reduce64(Reduce64(a) + Reduce64(b));  // sum < 2^62: no overflow
}

uint64_t FieldSub(uint64_t a, uint64_t b) {
  return Reduce64(Reduce64(a) + (kShamirPrime - Reduce64(b)));
}

uint64_t FieldMul(uint64_t a, uint64_t b) {
  // Product of two values < 2^61 is < 2^122; fold the high part down once
  // (2^61 == 1 mod p) to a value < 2^62, then reduce that.
  const unsigned __int128 product =
      static_cast<unsigned __int128>(Reduce64(a)) * Reduce64(b);
  const uint64_t low = static_cast<uint64_t>(product) & kShamirPrime;
  const uint64_t high = static_cast<uint64_t>(product >> 61);
  return Reduce64(low + high);
}

uint64_t FieldInverse(uint64_t a) {
  // Fermat: a^(p-2). Returns 0 for a == 0 (no inverse; callers never ask).
  uint64_t result = 1;
  uint64_t base = Reduce64(a);
  for (uint64_t e = kShamirPrime - 2; e != 0; e >>= 1) {
    if (e & 1) result = FieldMul(result, base);
    base = FieldMul(base, base);
  }
  return result;
}

absl::StatusOr<std::vector<ShamirShare>> ShamirSplit(
    const SecretBytes& secret, int threshold, const std::vector<uint32_t>& xs,
    SecurePrng& prng) {
  if (threshold < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir threshold must be >= 1, got ", threshold));
  }
  if (static_cast<size_t>(threshold) > xs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir threshold ", threshold, " exceeds the ", xs.size(),
                     " shares requested"));
  }
  RETURN_IF_ERROR(CheckXs(xs));

  const size_t chunks = NumChunks(secret.size());
  std::vector<ShamirShare> shares(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    shares[i].x = xs[i];
    shares[i].y.assign(chunks, 0);
    shares[i].secret_bytes = secret.size();
  }
  // Coefficients 1..t-1 of one chunk's polynomial; coefficient 0 is the
  // chunk itself. Both are secret and are wiped before returning.
  std::vector<uint64_t> coeffs(threshold);
  absl::Status status = absl::OkStatus();
  for (size_t c = 0; c < chunks && status.ok(); ++c) {
    uint64_t chunk = 0;
    const size_t begin = c * kChunkBytes;
    const size_t n = std::min(kChunkBytes, secret.size() - begin);
    for (size_t k = 0; k < n; ++k) {
      chunk |= uint64_t{secret.data()[begin + k]} << (8 * k);
    }
    coeffs[0] = chunk;
    OPENSSL_cleanse(&chunk, sizeof(chunk));
    status = RandomFieldElements(prng, coeffs.data() + 1, coeffs.size() - 1);
    if (!status.ok()) break;
    for (size_t i = 0; i < xs.size(); ++i) {
      // Horner's rule.
      uint64_t y = 0;
      for (size_t k = coeffs.size(); k-- > 0;) {
        y = FieldAdd(FieldMul(y, xs[i]), coeffs[k]);
      }
      shares[i].y[c] = y;
    }
  }
  OPENSSL_cleanse(coeffs.data(), coeffs.size() * sizeof(uint64_t));
  if (!status.ok()) return status;
  return shares;
}

absl::StatusOr<SecretBytes> ShamirReconstruct(
    const std::vector<ShamirShare>& shares, int threshold) {
  if (threshold < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir threshold must be >= 1, got ", threshold));
  }
  if (shares.size() < static_cast<size_t>(threshold)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir reconstruction needs ", threshold, " shares, got ",
                     shares.size()));
  }
  const size_t t = static_cast<size_t>(threshold);
  const size_t secret_bytes = shares[0].secret_bytes;
  const size_t chunks = NumChunks(secret_bytes);
  std::vector<uint32_t> xs(t);
  for (size_t i = 0; i < t; ++i) {
    const ShamirShare& share = shares[i];
    if (share.secret_bytes != secret_bytes || share.y.size() != chunks) {
      return absl::InvalidArgumentError(
          "Shamir shares disagree on the secret's length");
    }
    for (uint64_t y : share.y) {
      if (y >= kShamirPrime) {
        return absl::InvalidArgumentError(
            "Shamir share value outside the field");
      }
    }
    xs[i] = share.x;
  }
  RETURN_IF_ERROR(CheckXs(xs));

  // Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i).
  std::vector<uint64_t> basis(t);
  for (size_t i = 0; i < t; ++i) {
    uint64_t num = 1;
    uint64_t den = 1;
    for (size_t j = 0; j < t; ++j) {
      if (j == i) continue;
      num = FieldMul(num, xs[j]);
      den = FieldMul(den, FieldSub(xs[j], xs[i]));
    }
    basis[i] = FieldMul(num, FieldInverse(den));
  }

  SecretBytes secret(secret_bytes);
  for (size_t c = 0; c < chunks; ++c) {
    uint64_t chunk = 0;
    for (size_t i = 0; i < t; ++i) {
      chunk = FieldAdd(chunk, FieldMul(basis[i], shares[i].y[c]));
    }
    const size_t begin = c * kChunkBytes;
    const size_t n = std::min(kChunkBytes, secret_bytes - begin);
    if ((chunk >> (8 * n)) != 0) {
      OPENSSL_cleanse(&chunk, sizeof(chunk));
      return absl::InvalidArgumentError(
          "Shamir shares are inconsistent (reconstructed chunk out of range)");
    }
    for (size_t k = 0; k < n; ++k) {
      secret.data()[begin + k] = static_cast<uint8_t>(chunk >> (8 * k));
    }
    OPENSSL_cleanse(&chunk, sizeof(chunk));
  }
  return secret;
}

}  // namespace fedlearn
