// Key material that wipes itself (OPENSSL_cleanse) when destroyed or
// overwritten. Move-only, so every copy of a secret is deliberate (Clone()).
// Never log it.
#ifndef FEDLEARN_COMMON_CRYPTO_SECRET_BYTES_H_
#define FEDLEARN_COMMON_CRYPTO_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fedlearn {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size) : bytes_(size, 0) {}
  SecretBytes(const uint8_t* data, size_t size) : bytes_(data, data + size) {}
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes Clone() const { return SecretBytes(data(), size()); }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  bool operator==(const SecretBytes& other) const;  // constant time
  // Copies out as std::string, e.g. to place into a protobuf field that is
  // about to be encrypted. The caller owns wiping that copy.
  std::string ToString() const;

 private:
  void Wipe();
  std::vector<uint8_t> bytes_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_SECRET_BYTES_H_
