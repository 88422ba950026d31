// The wire form of a plaintext update's values: float32, little-endian,
// back to back (UpdateChunk.update_data). For tests that build uploads.
#ifndef FEDLEARN_TESTS_TEST_UTIL_FLOAT_BYTES_H_
#define FEDLEARN_TESTS_TEST_UTIL_FLOAT_BYTES_H_

#include <cstring>
#include <string>
#include <vector>

namespace fedlearn::testing_util {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "FloatBytes copies host floats as the little-endian wire form");

inline std::string FloatBytes(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

}  // namespace fedlearn::testing_util

#endif  // FEDLEARN_TESTS_TEST_UTIL_FLOAT_BYTES_H_
