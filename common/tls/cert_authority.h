// Certificate issuance for mutual TLS between the coordinator and clients.
//
// One private CA (ECDSA P-256, self-signed, random 128-bit serials) issues a
// server certificate (serverAuth, SAN with DNS and IP entries) and one
// certificate per client (clientAuth, CN and SAN DNS equal to the client id).
// The coordinator identifies a client by the CN, which gRPC exposes as the
// auth property `x509_common_name`. Client ids also become file names, so they
// must match [A-Za-z0-9][A-Za-z0-9._-]{0,63} and may not be "ca" or "server".
// A leaf never outlives its CA: its notAfter is clamped to the CA's.
//
// Private keys are unencrypted PKCS#8 PEM, held in memory only in
// SecretBytes (wiped on destruction, never logged). Checking a certificate
// against the CA is certificate_chain.h's VerifyCertificateChain, the one
// chain check of the tree. Writing the files is provision_directory.h.
// Thread-safe: no shared state.
#ifndef FEDLEARN_COMMON_TLS_CERT_AUTHORITY_H_
#define FEDLEARN_COMMON_TLS_CERT_AUTHORITY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/certificate_chain.h"
#include "common/crypto/secret_bytes.h"

namespace fedlearn {

struct PemKeyPair {
  std::string cert_pem;
  SecretBytes key_pem;
};

// OK iff `client_id` is usable as an identity and a file name (see above).
absl::Status ValidateClientId(std::string_view client_id);

// OK iff every entry is a DNS name (letters, digits, '.', '-', '*'; at most
// 253 characters) or an IPv4/IPv6 address, so none can smuggle extra SAN
// entries in. Does not require any entry.
absl::Status ValidateServerNames(const std::vector<std::string>& dns_names,
                                 const std::vector<std::string>& ip_addresses);

// Self-signed CA: basicConstraints CA:TRUE and keyUsage keyCertSign, cRLSign
// (both critical), SKI and AKI.
absl::StatusOr<PemKeyPair> CreateCertificateAuthority(
    std::string_view common_name, int valid_days);

// Requires at least one DNS name or IP address; IPs may be v4 or v6.
absl::StatusOr<PemKeyPair> IssueServerCertificate(
    const PemKeyPair& ca, std::string_view common_name,
    const std::vector<std::string>& dns_names,
    const std::vector<std::string>& ip_addresses, int valid_days);

absl::StatusOr<PemKeyPair> IssueClientCertificate(const PemKeyPair& ca,
                                                  std::string_view client_id,
                                                  int valid_days);

// OK iff `ca` is a usable issuer: a CA certificate, not expired, and the
// key belongs to it. InvalidArgument or FailedPrecondition (expired) if not.
absl::Status CheckCertificateAuthority(const PemKeyPair& ca);

// The subject's only CN.
absl::StatusOr<std::string> CommonNameOfCertificate(std::string_view cert_pem);

// The certificate's subjectAltName entries in order, as "DNS:name" and
// "IP:address" (IPv6 in RFC 5952 text); other kinds as "OTHER". Empty if it
// has no SAN extension.
absl::StatusOr<std::vector<std::string>> SubjectAltNamesOfCertificate(
    std::string_view cert_pem);

}  // namespace fedlearn

// Callers that provision directories have long included only this header.
#include "common/tls/provision_directory.h"  // IWYU pragma: export

#endif  // FEDLEARN_COMMON_TLS_CERT_AUTHORITY_H_
