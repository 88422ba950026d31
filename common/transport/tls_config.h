// Paths to the PEM files one side of a mutual-TLS connection needs, and the
// explicit opt-out. Insecure (plaintext) mode exists only for debugging on a
// trusted host and is logged loudly wherever it is used.
#ifndef FEDLEARN_COMMON_TRANSPORT_TLS_CONFIG_H_
#define FEDLEARN_COMMON_TRANSPORT_TLS_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"

namespace fedlearn {

struct TlsConfig {
  bool insecure = false;
  std::string ca_cert_path;  // trust anchor for the peer
  std::string cert_path;     // own certificate chain
  std::string key_path;      // own private key

  // Fills the three paths from a directory laid out by `fedlearn-certs init`
  // (ca.pem, <name>.pem, <name>.key).
  static TlsConfig FromDirectory(const std::string& dir,
                                 const std::string& name);
};

struct TlsMaterial {
  std::string ca_cert_pem;
  std::string cert_pem;
  std::string key_pem;
  ~TlsMaterial();  // wipes the key
};

// Reads the three files; NotFound/PermissionDenied name the offending path.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsConfig& config);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_TRANSPORT_TLS_CONFIG_H_
