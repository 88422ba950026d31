// The one type for key material in memory: shared secrets, seeds, shares and
// PEM private keys (TLS keys included) all live in a SecretBytes.
//
// Guarantees: the bytes are wiped (OPENSSL_cleanse) when the object is
// destroyed, cleared, overwritten or moved from; the buffer never grows
// after construction, so no reallocation leaves an unwiped copy behind.
// Equality is constant-time in the contents. Move-only: a copy is explicit
// (Clone(), or std::string(view()) where an API such as gRPC demands a
// std::string, and then the caller wipes that copy).
// Refuses: implicit copies and implicit conversion to any string type, so a
// secret cannot reach a log line or a format call by accident. Never log it.
// Thread-compatible, like std::vector.
#ifndef FEDLEARN_COMMON_CRYPTO_SECRET_BYTES_H_
#define FEDLEARN_COMMON_CRYPTO_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fedlearn {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size) : bytes_(size, 0) {}
  SecretBytes(const uint8_t* data, size_t size) : bytes_(data, data + size) {}
  // Copies `text`; the caller still owns (and wipes) the original.
  explicit SecretBytes(std::string_view text);
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // Takes over a secret that arrived in a std::string (a key file's text):
  // copies it and wipes `text`, which is left empty.
  static SecretBytes FromString(std::string&& text);

  SecretBytes Clone() const { return SecretBytes(data(), size()); }
  // Wipes the bytes and leaves the object empty.
  void Clear();

  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  // The bytes as text, e.g. a PEM key for OpenSSL. Valid until the object is
  // changed or destroyed; copying it out is the caller's deliberate act.
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  bool operator==(const SecretBytes& other) const;  // constant time
  // Copies out as std::string, e.g. to place into a protobuf field that is
  // about to be encrypted. The caller owns wiping that copy.
  std::string ToString() const;

 private:
  std::vector<uint8_t> bytes_;
};

// Wipes a std::string that held a secret (OPENSSL_cleanse) and empties it,
// for the copies that APIs outside our control demand.
void WipeString(std::string& text);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_SECRET_BYTES_H_
