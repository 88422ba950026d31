#include "common/dp/randomized_hadamard.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/mask_prg.h"
#include "common/crypto/secret_bytes.h"

namespace fedlearn {
namespace {

constexpr std::string_view kRotationDomain = "fedlearn/dp/rotation/v1";

// Butterflies with a half-span below this many coordinates run block by
// block, so the first log2(kBlock) passes stay in L1 (16 KiB of doubles);
// only the remaining log2(d / kBlock) passes stream through memory.
constexpr size_t kBlock = size_t{1} << 11;

// The butterflies of one pass over v[0, n): half-span h.
inline void HadamardPass(double* v, size_t n, size_t h) {
  for (size_t i = 0; i < n; i += 2 * h) {
    double* a = v + i;
    double* b = v + i + h;
    for (size_t j = 0; j < h; ++j) {
      const double x = a[j];
      const double y = b[j];
      a[j] = x + y;
      b[j] = x - y;
    }
  }
}

size_t SignWords(size_t padded_dimension) {
  return (padded_dimension + 31) / 32;
}

}  // namespace

size_t NextPowerOfTwo(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

void FastWalshHadamardTransform(absl::Span<double> values) {
  const size_t n = values.size();
  double* v = values.data();
  const size_t block = std::min(n, kBlock);
  for (size_t base = 0; base < n; base += block) {
    for (size_t h = 1; h < block; h <<= 1) HadamardPass(v + base, block, h);
  }
  for (size_t h = block; h < n; h <<= 1) HadamardPass(v, n, h);
}

RandomizedHadamard::RandomizedHadamard(size_t dimension,
                                       std::vector<uint32_t> sign_bits)
    : dimension_(dimension),
      padded_dimension_(NextPowerOfTwo(dimension)),
      sign_bits_(std::move(sign_bits)) {}

absl::StatusOr<RandomizedHadamard> RandomizedHadamard::Create(
    size_t dimension, absl::Span<const uint8_t> seed) {
  if (dimension < 1 || dimension > kMaxDimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("RandomizedHadamard: dimension ", dimension,
                     " outside [1, ", kMaxDimension, "]"));
  }
  if (seed.size() != kSeedBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("RandomizedHadamard: the rotation seed has ", seed.size(),
                     " bytes, want ", kSeedBytes));
  }
  // The seed is public; SecretBytes is only the type ExpandMask takes.
  const SecretBytes key(seed.data(), seed.size());
  std::vector<uint32_t> bits(SignWords(NextPowerOfTwo(dimension)));
  absl::Status status = ExpandMask(key, kRotationDomain, absl::MakeSpan(bits));
  if (!status.ok()) return status;
  return RandomizedHadamard(dimension, std::move(bits));
}

absl::StatusOr<RandomizedHadamard> RandomizedHadamard::FromSignsForTesting(
    size_t dimension, absl::Span<const int> signs) {
  if (dimension < 1 || dimension > kMaxDimension ||
      signs.size() != NextPowerOfTwo(dimension)) {
    return absl::InvalidArgumentError(
        "RandomizedHadamard: want 1 <= dimension and one sign per padded "
        "coordinate");
  }
  std::vector<uint32_t> bits(SignWords(signs.size()), 0);
  for (size_t i = 0; i < signs.size(); ++i) {
    if (signs[i] != 1 && signs[i] != -1) {
      return absl::InvalidArgumentError("RandomizedHadamard: signs are +-1");
    }
    if (signs[i] == -1) bits[i / 32] |= uint32_t{1} << (i % 32);
  }
  return RandomizedHadamard(dimension, std::move(bits));
}

absl::Status RandomizedHadamard::Rotate(absl::Span<const float> in,
                                        absl::Span<double> out) const {
  if (in.size() != dimension_ || out.size() != padded_dimension_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RandomizedHadamard::Rotate: sizes ", in.size(), " -> ", out.size(),
        ", want ", dimension_, " -> ", padded_dimension_));
  }
  for (size_t i = 0; i < dimension_; ++i) {
    const double x = in[i];
    out[i] = ((sign_bits_[i / 32] >> (i % 32)) & 1) != 0 ? -x : x;
  }
  std::fill(out.begin() + dimension_, out.end(), 0.0);
  FastWalshHadamardTransform(out);
  const double scale = 1.0 / std::sqrt(static_cast<double>(padded_dimension_));
  for (double& v : out) v *= scale;
  return absl::OkStatus();
}

absl::Status RandomizedHadamard::InverseRotate(absl::Span<double> inout,
                                               absl::Span<float> out) const {
  if (inout.size() != padded_dimension_ || out.size() != dimension_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RandomizedHadamard::InverseRotate: sizes ", inout.size(), " -> ",
        out.size(), ", want ", padded_dimension_, " -> ", dimension_));
  }
  // U^T = (1/sqrt(d)) D_s H: transform first, then scale and flip signs.
  FastWalshHadamardTransform(inout);
  const double scale = 1.0 / std::sqrt(static_cast<double>(padded_dimension_));
  for (size_t i = 0; i < padded_dimension_; ++i) {
    const double x = inout[i] * scale;
    inout[i] = ((sign_bits_[i / 32] >> (i % 32)) & 1) != 0 ? -x : x;
  }
  for (size_t i = 0; i < dimension_; ++i) out[i] = static_cast<float>(inout[i]);
  return absl::OkStatus();
}

}  // namespace fedlearn
