#include "common/transport/tls_config.h"

#include <openssl/crypto.h>

#include "absl/strings/str_cat.h"
#include "common/util/atomic_file.h"

namespace fedlearn {

TlsConfig TlsConfig::FromDirectory(const std::string& dir,
                                   const std::string& name) {
  TlsConfig config;
  config.ca_cert_path = absl::StrCat(dir, "/ca.pem");
  config.cert_path = absl::StrCat(dir, "/", name, ".pem");
  config.key_path = absl::StrCat(dir, "/", name, ".key");
  return config;
}

TlsMaterial::~TlsMaterial() {
  if (!key_pem.empty()) OPENSSL_cleanse(key_pem.data(), key_pem.size());
}

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsConfig& config) {
  TlsMaterial material;
  struct Item {
    const std::string* path;
    std::string* out;
    const char* what;
  } items[] = {{&config.ca_cert_path, &material.ca_cert_pem, "CA certificate"},
               {&config.cert_path, &material.cert_pem, "certificate"},
               {&config.key_path, &material.key_pem, "private key"}};
  for (const Item& item : items) {
    if (item.path->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no ", item.what, " path configured (or pass --insecure)"));
    }
    absl::StatusOr<std::string> text = ReadFileToString(*item.path);
    if (!text.ok()) {
      return absl::Status(
          text.status().code(),
          absl::StrCat("TLS ", item.what, ": ", text.status().message()));
    }
    *item.out = *std::move(text);
  }
  return material;
}

}  // namespace fedlearn
