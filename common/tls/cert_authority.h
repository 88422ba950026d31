// Certificate provisioning for mutual TLS between the coordinator and clients.
//
// One private CA (ECDSA P-256, self-signed, random 128-bit serials) issues a
// server certificate (serverAuth, SAN with DNS and IP entries) and one
// certificate per client (clientAuth, CN and SAN DNS equal to the client id).
// The coordinator identifies a client by the CN, which gRPC exposes as the
// auth property `x509_common_name`. Client ids also become file names, so they
// must match [A-Za-z0-9][A-Za-z0-9._-]{0,63} and may not be "ca" or "server".
// A leaf never outlives its CA: its notAfter is clamped to the CA's.
//
// Private keys are unencrypted PKCS#8 PEM, written with mode 0600 and held in
// memory by SecretString, which wipes them (OPENSSL_cleanse). There is no
// revocation: to withdraw a client, provision again with `force`.
#ifndef FEDLEARN_COMMON_TLS_CERT_AUTHORITY_H_
#define FEDLEARN_COMMON_TLS_CERT_AUTHORITY_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedlearn {

// Owns secret bytes and wipes them when destroyed or overwritten. Move-only so
// that every copy of a key is deliberate. A move hands the heap buffer over;
// PEM keys are far longer than the small-string buffer, so none stays behind.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value) : value_(std::move(value)) {}
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  SecretString(SecretString&& other) noexcept = default;
  SecretString& operator=(SecretString&& other) noexcept;
  ~SecretString() { Wipe(); }

  const std::string& value() const { return value_; }

 private:
  void Wipe();

  std::string value_;
};

struct PemKeyPair {
  std::string cert_pem;
  SecretString key_pem;
};

// OK iff `client_id` is usable as an identity and a file name (see above).
absl::Status ValidateClientId(std::string_view client_id);

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

absl::StatusOr<std::string> CommonNameOfCertificate(std::string_view cert_pem);

// The certificate's subjectAltName entries in order, as "DNS:name" and
// "IP:address" (IPv6 in RFC 5952 text); other kinds as "OTHER". Empty if it
// has no SAN extension.
absl::StatusOr<std::vector<std::string>> SubjectAltNamesOfCertificate(
    std::string_view cert_pem);

// OK iff `cert_pem` chains to the CA in `ca_pem` and both are currently valid.
absl::Status VerifyCertificateChain(std::string_view ca_pem,
                                    std::string_view cert_pem);

struct ProvisionOptions {
  std::string out_dir;
  // Generates client ids `client_prefix` + 001 .. num_clients.
  int num_clients = 0;
  std::string client_prefix = "client-";
  std::vector<std::string> client_ids;
  std::vector<std::string> server_dns = {"localhost"};
  std::vector<std::string> server_ips = {"127.0.0.1"};
  int valid_days = 365;
  // Regenerate the CA and every certificate even if the files exist.
  bool force = false;
};

// Paths written and paths left untouched by ProvisionDirectory.
struct ProvisionReport {
  std::vector<std::string> written;
  std::vector<std::string> kept;
};

// Writes ca.pem/ca.key, server.pem/server.key and <id>.pem/<id>.key for each
// client into `out_dir`, creating it if needed. Without `force`, an existing
// CA is reused and only certificates whose .pem or .key is missing are issued,
// so re-running is cheap and keeps issued certificates valid; an existing
// server.pem keeps its SANs even if `server_dns`/`server_ips` changed. A new
// CA (first run, or `force`) reissues everything. Each file is replaced
// atomically (temp file + rename).
absl::StatusOr<ProvisionReport> ProvisionDirectory(
    const ProvisionOptions& options);

// Issues <client_id>.pem/.key into `out_dir` with the CA in `ca_dir`. Refuses
// (AlreadyExists) to overwrite an existing identity.
absl::Status IssueClientFiles(const std::string& ca_dir,
                              const std::string& client_id,
                              const std::string& out_dir, int valid_days);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_TLS_CERT_AUTHORITY_H_
