// Certificate issuance for mutual TLS between the coordinator and clients.
//
// One private CA (ECDSA P-256, self-signed, random 128-bit serials) issues a
// server certificate (serverAuth, SAN with DNS and IP entries) and one
// certificate per client (clientAuth, CN and SAN DNS equal to the client id).
// The coordinator identifies a client by the CN, which gRPC exposes as the
// auth property `x509_common_name`. Client ids also become file names, so they
// must match [A-Za-z0-9][A-Za-z0-9._-]{0,63} and may not be "ca" or "server".
// A leaf never outlives its CA: its notAfter is clamped to the CA's.
// Every leaf carries its role in its subject's one OU ("site", "operator",
// "coordinator"); certificates issued before roles existed have no OU and
// read back as kUnknown. Revocation lists are revocation_list.h.
//
// Private keys are unencrypted PKCS#8 PEM, held in memory only in
// SecretBytes (wiped on destruction, never logged). Checking a certificate
// against the CA is certificate_chain.h's VerifyCertificateChain, the one
// chain check of the tree. Writing the files is provision_directory.h.
// Thread-safe: no shared state.
#ifndef FEDLEARN_COMMON_TLS_CERT_AUTHORITY_H_
#define FEDLEARN_COMMON_TLS_CERT_AUTHORITY_H_

#include <ctime>
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

// What a certificate may do, carried in its subject OU. kSite: a client
// daemon; kOperator: admin commands; kCoordinator: the server. kUnknown: no
// OU (issued before roles existed) or an OU naming none of these.
enum class CertificateRole { kSite, kOperator, kCoordinator, kUnknown };

// "site", "operator", "coordinator", or "unknown".
std::string_view CertificateRoleName(CertificateRole role);

// The inverse of CertificateRoleName; kUnknown for any other text
// (including "unknown").
CertificateRole CertificateRoleFromName(std::string_view name);

// How IssueClientCertificate builds a leaf. The fields marked "tests only"
// make deliberately defective certificates so refusals can be tested; no
// operator path sets them.
struct IssueOptions {
  int valid_days = 365;
  // Tests only. notBefore (and with it notAfter) moves by this many days:
  // negative backdates, positive makes a certificate that is not yet valid.
  int not_before_offset_days = 0;
  // kSite or kOperator for client certificates (kCoordinator is allowed, for
  // tests of a site presenting a coordinator-role certificate). kUnknown
  // omits the OU, as certificates issued before roles existed.
  CertificateRole role = CertificateRole::kSite;
  // Tests only: further CN entries after the first (a two-CN subject).
  std::vector<std::string> extra_common_names;
  // Tests only: extendedKeyUsage serverAuth instead of clientAuth.
  bool omit_client_auth_eku = false;
};

// Tests only: options for a certificate that expired 9 days ago (notBefore
// 10 days back, valid 1 day).
IssueOptions ExpiredIssueOptions();

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

// Requires at least one DNS name or IP address; IPs may be v4 or v6. The
// certificate carries role kCoordinator.
absl::StatusOr<PemKeyPair> IssueServerCertificate(
    const PemKeyPair& ca, std::string_view common_name,
    const std::vector<std::string>& dns_names,
    const std::vector<std::string>& ip_addresses, int valid_days);

// A client certificate (clientAuth, CN and SAN DNS = `client_id`, OU =
// options.role). `client_id` must pass ValidateClientId.
absl::StatusOr<PemKeyPair> IssueClientCertificate(const PemKeyPair& ca,
                                                  std::string_view client_id,
                                                  const IssueOptions& options);

// IssueClientCertificate with role kSite and `valid_days`.
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

// The role in the subject's OU (see CertificateRole). InvalidArgument if the
// PEM does not parse or the subject has several OUs.
absl::StatusOr<CertificateRole> RoleOfCertificate(std::string_view cert_pem);

// The serial number as uppercase hex without leading zeros (OpenSSL's
// BN_bn2hex), the form RevokedSerials returns.
absl::StatusOr<std::string> SerialOfCertificate(std::string_view cert_pem);

// notAfter, in seconds since the Unix epoch.
absl::StatusOr<std::time_t> NotAfterOfCertificate(std::string_view cert_pem);

}  // namespace fedlearn

// Callers that provision directories have long included only this header.
#include "common/tls/provision_directory.h"  // IWYU pragma: export
#include "common/tls/revocation_list.h"      // IWYU pragma: export

#endif  // FEDLEARN_COMMON_TLS_CERT_AUTHORITY_H_
