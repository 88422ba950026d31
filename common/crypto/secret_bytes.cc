#include "common/crypto/secret_bytes.h"

#include <openssl/crypto.h>

#include <utility>

namespace fedlearn {

SecretBytes::SecretBytes(std::string_view text)
    : bytes_(reinterpret_cast<const uint8_t*>(text.data()),
             reinterpret_cast<const uint8_t*>(text.data()) + text.size()) {}

SecretBytes::~SecretBytes() { Clear(); }

// std::vector's move hands the heap buffer over and leaves `other` empty, so
// no copy of the secret stays behind in the moved-from object.
SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : bytes_(std::move(other.bytes_)) {
  other.Clear();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    bytes_ = std::move(other.bytes_);
    other.Clear();
  }
  return *this;
}

SecretBytes SecretBytes::FromString(std::string&& text) {
  SecretBytes secret{std::string_view(text)};
  WipeString(text);
  return secret;
}

bool SecretBytes::operator==(const SecretBytes& other) const {
  // The length is not secret; the contents are compared in constant time.
  if (bytes_.size() != other.bytes_.size()) return false;
  if (bytes_.empty()) return true;
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
}

std::string SecretBytes::ToString() const { return std::string(view()); }

void SecretBytes::Clear() {
  // The buffer never grows after construction (no resize or push_back), so
  // size() covers every byte the secret ever occupied. clear() keeps the
  // (now zeroed) buffer allocated until destruction.
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

void WipeString(std::string& text) {
  // The whole capacity, not just size(): bytes past a shrink may still hold
  // the secret. Growing to capacity() never reallocates.
  text.resize(text.capacity());
  OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

}  // namespace fedlearn
