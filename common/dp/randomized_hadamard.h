// The randomized Hadamard rotation of the distributed discrete Gaussian
// mechanism (Kairouz, Liu, Steinke 2021, "The Distributed Discrete Gaussian
// Mechanism for Federated Learning with Secure Aggregation", ICML, Sec. 4):
//
//   x' = U x,  U = (1/sqrt(d)) H D_s,
//
// where x is zero-padded from D to d = NextPowerOfTwo(D) coordinates, H is
// the d x d Sylvester-Hadamard matrix (H[j][k] = (-1)^popcount(j & k)) and
// D_s = diag(s) holds random signs. U is orthonormal (H H = d I), so norms are
// preserved exactly and U^-1 = U^T = (1/sqrt(d)) D_s H. Its job is to flatten
// a vector: for a fixed x, every coordinate of U x is sub-Gaussian with
// variance proxy ||x||^2 / d, which is what lets a small modulus hold the
// secure-aggregation sum without wrapping.
//
// The signs are PUBLIC and shared: every client and the server derive them
// from the same per-round 32-byte seed, so the server can invert the rotation
// of the sum. Sign i is bit (i mod 32) of little-endian word i / 32 of the
// AES-256-CTR keystream of ExpandMask(seed, "fedlearn/dp/rotation/v1")
// (common/crypto/mask_prg.h); a set bit means -1. Changing this derivation
// breaks the agreement between versions, so a test pins it.
//
// The transform is the in-place iterative fast Walsh-Hadamard transform,
// O(d log d) additions, in double precision. Rotate and InverseRotate are
// const and hold no mutable state, so one instance may be shared by threads.
#ifndef FEDLEARN_COMMON_DP_RANDOMIZED_HADAMARD_H_
#define FEDLEARN_COMMON_DP_RANDOMIZED_HADAMARD_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fedlearn {

// The smallest power of two >= n; 1 for n = 0. n must be <= 2^63.
size_t NextPowerOfTwo(size_t n);

// In place, unnormalized: values <- H values. values.size() must be a power
// of two (the caller's contract; Rotate/InverseRotate guarantee it).
void FastWalshHadamardTransform(absl::Span<double> values);

class RandomizedHadamard {
 public:
  static constexpr size_t kSeedBytes = 32;
  // Largest D accepted: 2^28 coordinates (a 2 GiB double buffer).
  static constexpr size_t kMaxDimension = size_t{1} << 28;

  // InvalidArgument unless 1 <= dimension <= kMaxDimension and the seed has
  // kSeedBytes bytes; Internal on an OpenSSL failure.
  static absl::StatusOr<RandomizedHadamard> Create(
      size_t dimension, absl::Span<const uint8_t> seed);
  // Fixed signs (each +1 or -1, padded_dimension() of them) instead of a
  // seed, for known-answer tests.
  static absl::StatusOr<RandomizedHadamard> FromSignsForTesting(
      size_t dimension, absl::Span<const int> signs);

  size_t dimension() const { return dimension_; }                // D
  size_t padded_dimension() const { return padded_dimension_; }  // d
  // s_i, +1 or -1, for i < padded_dimension().
  int sign(size_t i) const {
    return ((sign_bits_[i / 32] >> (i % 32)) & 1) != 0 ? -1 : 1;
  }

  // out = U (in, 0, ..., 0). InvalidArgument unless in.size() == D and
  // out.size() == d.
  absl::Status Rotate(absl::Span<const float> in, absl::Span<double> out) const;
  // inout <- U^T inout (overwritten), then out = its first D coordinates
  // (the padding is dropped). InvalidArgument unless inout.size() == d and
  // out.size() == D.
  absl::Status InverseRotate(absl::Span<double> inout,
                             absl::Span<float> out) const;

 private:
  RandomizedHadamard(size_t dimension, std::vector<uint32_t> sign_bits);

  size_t dimension_;
  size_t padded_dimension_;
  std::vector<uint32_t> sign_bits_;  // bit set = sign -1
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DP_RANDOMIZED_HADAMARD_H_
