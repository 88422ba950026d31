#include "common/crypto/sha256.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"

namespace fedlearn {
namespace {

// Fetched once: EVP_sha256() makes every EVP_Digest look the implementation
// up again (OpenSSL 3). EVP_MD objects are immutable and thread-safe.
const EVP_MD* Sha256Algorithm() {
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  // EVP_Digest with SHA-256 fails only if OpenSSL cannot allocate a context.
  EVP_Digest(bytes.data(), bytes.size(), md, &md_len, Sha256Algorithm(),
             nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), md_len));
}

}  // namespace fedlearn
