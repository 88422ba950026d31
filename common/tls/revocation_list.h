// Certificate revocation lists (RFC 5280 section 5) for the federation's CA:
// the CA signs an X.509 v2 CRL naming revoked serials; the coordinator loads
// it with RevokedSerials and refuses those certificates.
//
// Guarantees: CreateRevocationList writes a v2 CRL signed with SHA-256 by the
// CA key, with an authorityKeyIdentifier (the CA's SKI) and a CRL number, its
// entries sorted by serial. Reading verifies the signature against the CA
// and that the CRL's issuer is the CA's subject before trusting any entry;
// refuses (InvalidArgument) PEM that does not parse, and (Unauthenticated) a
// CRL not signed by the CA. Serials are uppercase hex without leading zeros,
// as SerialOfCertificate (cert_authority.h) writes them.
// Thread-safe: no shared state.
#ifndef FEDLEARN_COMMON_TLS_REVOCATION_LIST_H_
#define FEDLEARN_COMMON_TLS_REVOCATION_LIST_H_

#include <cstdint>
#include <ctime>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tls/cert_authority.h"

namespace fedlearn {

struct RevokedCertificate {
  // Uppercase or lowercase hex, as SerialOfCertificate returns it.
  std::string serial_hex;
  std::time_t revocation_time = 0;  // Seconds since the Unix epoch.
  // An RFC 5280 reason name ("keyCompromise", "superseded",
  // "cessationOfOperation", "affiliationChanged", "caCompromise",
  // "certificateHold", "privilegeWithdrawn"; case-insensitive) becomes the
  // entry's reasonCode extension. Any other text (free text an operator
  // typed) or empty: no reasonCode, as RFC 5280 5.3.1 asks instead of
  // "unspecified". Keep free text in your own records.
  std::string reason;
};

// A signed CRL PEM revoking `revoked`: thisUpdate now (backdated 5 minutes
// for skewed clocks), nextUpdate `next_update_days` (>= 1) later. The CRL
// number is `crl_number` if positive, else the current time in microseconds
// since the epoch, so successive lists number upwards. InvalidArgument for a
// bad CA (as CheckCertificateAuthority), serial or duplicate serial.
absl::StatusOr<std::string> CreateRevocationList(
    const PemKeyPair& ca, const std::vector<RevokedCertificate>& revoked,
    int next_update_days, int64_t crl_number = 0);

// What a verified CRL says.
struct RevocationListContents {
  std::set<std::string> revoked_serials;  // Uppercase hex.
  std::time_t this_update = 0;
  std::time_t next_update = 0;  // 0 if the CRL has none.
  int64_t crl_number = -1;      // -1 if absent or too large.
  bool expired = false;         // nextUpdate is in the past.
};

// Parses `crl_pem` and verifies it was issued and signed by a CA certificate
// in `ca_pem`. Succeeds for an expired CRL (contents.expired says so).
absl::StatusOr<RevocationListContents> ReadRevocationList(
    std::string_view crl_pem, std::string_view ca_pem);

// ReadRevocationList's serials, but FailedPrecondition if the CRL's
// nextUpdate has passed: the CA has not published a fresh list in time.
// That code is the only one a caller may choose to tolerate (e.g. keep
// serving with a warning, via ReadRevocationList); every other error means
// the file cannot be trusted.
absl::StatusOr<std::set<std::string>> RevokedSerials(std::string_view crl_pem,
                                                     std::string_view ca_pem);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_TLS_REVOCATION_LIST_H_
