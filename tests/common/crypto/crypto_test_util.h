// Hex helpers shared by the crypto tests.
#ifndef FEDLEARN_TESTS_COMMON_CRYPTO_CRYPTO_TEST_UTIL_H_
#define FEDLEARN_TESTS_COMMON_CRYPTO_CRYPTO_TEST_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "common/crypto/secret_bytes.h"

namespace fedlearn {
namespace testing_util {

inline std::string Unhex(const std::string& hex) {
  return absl::HexStringToBytes(hex);
}

inline std::string Hex(const std::string& bytes) {
  return absl::BytesToHexString(bytes);
}

inline SecretBytes SecretFromString(const std::string& bytes) {
  return SecretBytes(reinterpret_cast<const uint8_t*>(bytes.data()),
                     bytes.size());
}

inline SecretBytes SecretFromHex(const std::string& hex) {
  return SecretFromString(Unhex(hex));
}

}  // namespace testing_util
}  // namespace fedlearn

#endif  // FEDLEARN_TESTS_COMMON_CRYPTO_CRYPTO_TEST_UTIL_H_
