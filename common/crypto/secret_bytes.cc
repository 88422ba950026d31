#include "common/crypto/secret_bytes.h"

#include <openssl/crypto.h>

#include <utility>

namespace fedlearn {

SecretBytes::~SecretBytes() { Wipe(); }

// std::vector's move hands the heap buffer over and leaves `other` empty, so
// no copy of the secret stays behind in the moved-from object.
SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : bytes_(std::move(other.bytes_)) {
  other.Wipe();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    bytes_ = std::move(other.bytes_);
    other.Wipe();
  }
  return *this;
}

bool SecretBytes::operator==(const SecretBytes& other) const {
  // The length is not secret; the contents are compared in constant time.
  if (bytes_.size() != other.bytes_.size()) return false;
  if (bytes_.empty()) return true;
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
}

std::string SecretBytes::ToString() const {
  return std::string(reinterpret_cast<const char*>(bytes_.data()),
                     bytes_.size());
}

void SecretBytes::Wipe() {
  // The buffer never grows after construction (no resize or push_back), so
  // size() covers every byte the secret ever occupied.
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

}  // namespace fedlearn
