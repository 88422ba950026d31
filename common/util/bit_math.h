// Bit counts of unsigned integers, as the limb encodings of secure
// aggregation (common/secagg/input_encoding.cc) and of federated evaluation
// reports (common/evaluation/eval_vector_codec.cc) size their limbs.
// Header-only, constexpr, thread-safe.
#ifndef FEDLEARN_COMMON_UTIL_BIT_MATH_H_
#define FEDLEARN_COMMON_UTIL_BIT_MATH_H_

#include <cstdint>

namespace fedlearn {

// ceil(log2(n)) for n >= 1 (0 for n <= 1); at most 64.
constexpr int CeilLog2(uint64_t n) {
  int bits = 0;
  while (bits < 64 && (uint64_t{1} << bits) < n) ++bits;
  return bits;
}

// Number of significant bits of n (0 for 0).
constexpr int BitLength(uint64_t n) {
  int bits = 0;
  for (; n != 0; n >>= 1) ++bits;
  return bits;
}

static_assert(CeilLog2(1) == 0 && CeilLog2(2) == 1 && CeilLog2(1000) == 10);
static_assert(BitLength(0) == 0 && BitLength(1) == 1 && BitLength(255) == 8);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_UTIL_BIT_MATH_H_
