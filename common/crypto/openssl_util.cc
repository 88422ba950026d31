#include "common/crypto/openssl_util.h"

#include <openssl/err.h>

#include <climits>
#include <string>

namespace fedlearn {
namespace crypto_internal {

absl::Status OpenSslError(absl::StatusCode code, std::string_view what) {
  std::string message(what);
  bool first = true;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    message += first ? ": " : "; ";
    message += buf;
    first = false;
  }
  return absl::Status(code, message);
}

BioPtr MemoryBio(std::string_view data) {
  if (data.size() > static_cast<size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

}  // namespace crypto_internal
}  // namespace fedlearn
