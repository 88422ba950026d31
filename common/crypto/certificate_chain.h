// The tree's one X.509 chain check: does a certificate chain to the
// federation's CA, is every certificate on the path valid now, is it meant
// for the expected TLS role, and does it name the expected identity.
// Secure aggregation (signature.h), `fedlearn-certs verify`
// (cert_authority.h) and the startup check of a site's own TLS files
// (tls_config.h) all call it, so they cannot disagree on what "issued by our
// CA" means.
//
// Guarantees: every certificate in the CA PEM is a trust anchor, and only
// self-signed roots anchor a chain (no partial chains); certificates after
// the first in a chain PEM are untrusted intermediates; a CN is compared by
// length and bytes, so "alice\0.evil" is not "alice", and a subject with
// several CNs is refused. Every refusal, including PEM that does not parse,
// is Unauthenticated with the reason; the OpenSSL error queue is left empty.
// Thread-safety: TrustAnchors is thread-compatible and its Verify is const
// and builds its own verification context, so one instance may serve many
// threads.
#ifndef FEDLEARN_COMMON_CRYPTO_CERTIFICATE_CHAIN_H_
#define FEDLEARN_COMMON_CRYPTO_CERTIFICATE_CHAIN_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/openssl_util.h"

namespace fedlearn {

enum class CertificatePurpose {
  kAny,        // any extended key usage
  kTlsClient,  // a site's certificate (so the server's cannot stand in)
};

struct ChainRequirements {
  CertificatePurpose purpose = CertificatePurpose::kAny;
  // If set, the leaf's only CN must equal it exactly.
  std::optional<std::string_view> common_name;
};

// Why a chain did not verify, for callers that word their own advice.
struct ChainFailure {
  int x509_error = 0;  // X509_V_ERR_*; 0 if the path verified
  int depth = -1;      // 0: the leaf; > 0: an intermediate or the CA
  // The leaf (or an intermediate) was issued by a CA not among the anchors,
  // or is self-signed: the usual "wrong ca.pem" mistake.
  bool NotIssuedByTrustedCa() const;
};

// The federation's CA certificates parsed once into a trust store: parsing
// and building the store cost several times the chain check itself.
// Move-only.
class TrustAnchors {
 public:
  // Unauthenticated unless `ca_pem` holds at least one PEM certificate.
  static absl::StatusOr<TrustAnchors> Create(std::string_view ca_pem);

  TrustAnchors(TrustAnchors&&) = default;
  TrustAnchors& operator=(TrustAnchors&&) = default;
  TrustAnchors(const TrustAnchors&) = delete;
  TrustAnchors& operator=(const TrustAnchors&) = delete;

  // OK iff the first certificate of `cert_chain_pem` meets `requirements`
  // (see the file comment). Unauthenticated otherwise; `failure`, if given,
  // receives OpenSSL's verdict.
  absl::Status Verify(std::string_view cert_chain_pem,
                      const ChainRequirements& requirements = {},
                      ChainFailure* failure = nullptr) const;

  // Verify, handing back the verified leaf (for its public key).
  absl::StatusOr<crypto_internal::X509Ptr> VerifyLeaf(
      std::string_view cert_chain_pem, const ChainRequirements& requirements,
      ChainFailure* failure = nullptr) const;

 private:
  explicit TrustAnchors(crypto_internal::X509StorePtr store)
      : store_(std::move(store)) {}

  crypto_internal::X509StorePtr store_;
};

// One-shot TrustAnchors::Create + Verify.
absl::Status VerifyCertificateChain(std::string_view ca_pem,
                                    std::string_view cert_chain_pem,
                                    const ChainRequirements& requirements = {},
                                    ChainFailure* failure = nullptr);

// When a certificate is valid: from not_before to not_after, both included
// (RFC 5280 section 4.1.2.5), to the second.
struct ValidityPeriod {
  absl::Time not_before;
  absl::Time not_after;
  bool Contains(absl::Time t) const {
    return not_before <= t && t <= not_after;
  }
};

// The validity period of the first certificate in `cert_pem`, read without
// verifying anything else. InvalidArgument if there is no PEM certificate or
// a time does not parse.
absl::StatusOr<ValidityPeriod> ValidityPeriodOf(std::string_view cert_pem);

// The subject's only CN. NotFound if it has none, InvalidArgument if several
// or not valid text.
absl::StatusOr<std::string> CommonNameOf(X509* cert);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_CERTIFICATE_CHAIN_H_
