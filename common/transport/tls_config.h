// Paths to the PEM files one side of a mutual-TLS connection needs, and the
// explicit opt-out. Insecure (plaintext) mode exists only for debugging on a
// trusted host and is logged loudly wherever it is used.
//
// LoadTlsMaterial checks the files before any connection is attempted, so an
// operator's mistake is reported with the file names at startup instead of
// surfacing later as an opaque gRPC failure ("empty address list", "Socket
// closed"). It refuses: a missing or unreadable file; a file holding no PEM
// object of the expected kind (or an encrypted key: gRPC cannot use one); a
// key that does not belong to the certificate; an own certificate that has
// expired or is not yet valid. Whether the own certificate is signed by the
// configured CA is a separate check (VerifyOwnCertificateChain): the
// federation uses one CA, but TLS itself does not require it; it is
// certificate_chain.h's check, the one the whole tree uses.
// The private key is held only in SecretBytes (wiped, never logged);
// grpc_credentials.h hands it to gRPC.
// Thread-safe: the functions share no state.
#ifndef FEDLEARN_COMMON_TRANSPORT_TLS_CONFIG_H_
#define FEDLEARN_COMMON_TRANSPORT_TLS_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/secret_bytes.h"

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

// Move-only, because the key is.
struct TlsMaterial {
  std::string ca_cert_pem;
  std::string cert_pem;
  SecretBytes key_pem;
};

// Reads and checks the three files (see above). Errors name the offending
// path: NotFound / PermissionDenied (cannot read), InvalidArgument (no usable
// PEM, or the key belongs to another certificate), FailedPrecondition (own
// certificate expired or not yet valid).
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsConfig& config);

// OK iff the own certificate (with any intermediates that follow it in its
// file) chains to a certificate in the CA file and the CA is currently valid.
// Otherwise InvalidArgument naming both files: with one federation CA, a peer
// that trusts only that CA will refuse this certificate.
// REQUIRES: `material` was loaded from `config` by LoadTlsMaterial.
absl::Status VerifyOwnCertificateChain(const TlsConfig& config,
                                       const TlsMaterial& material);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_TRANSPORT_TLS_CONFIG_H_
