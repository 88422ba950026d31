// What the coordinator reads from a peer's TLS certificate, and the checks a
// certificate must pass before it names a client at all.
//
// Guarantees: a certificate is accepted only if it chains to the federation's
// CA and is valid now (certificate_chain.h; the TLS handshake checked this
// too, this is the second, independent check), its subject has exactly one
// CN, that CN is a valid client id (ValidateClientId), and its
// extendedKeyUsage is present and includes clientAuth, so the coordinator's
// own serverAuth certificate (or one with no EKU) cannot stand in for a
// site. The role comes from the subject OU (cert_authority.h); a certificate
// without one is kUnknown, "legacy". Every refusal is Unauthenticated with
// the reason; nothing a certificate holds reaches a message unescaped.
// Thread-safety: Inspect is const and may be called from many threads.
#ifndef FEDLEARN_SERVER_IDENTITY_PEER_CERTIFICATE_H_
#define FEDLEARN_SERVER_IDENTITY_PEER_CERTIFICATE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/certificate_chain.h"
#include "common/tls/cert_authority.h"

namespace fedlearn {

struct PeerCertificate {
  std::string client_id;  // the only CN
  std::string serial;     // uppercase hex, as SerialOfCertificate
  CertificateRole role = CertificateRole::kUnknown;
  // notAfter, Unix seconds: a cached verdict expires with the certificate.
  int64_t not_after_unix = 0;
};

class PeerCertificateInspector {
 public:
  // `ca_pem`: the CA the certificates must chain to. Empty: no chain check
  // here, only where the TLS handshake has already verified the chain
  // (in-process tests without a CA file).
  static absl::StatusOr<PeerCertificateInspector> Create(
      std::string_view ca_pem);

  PeerCertificateInspector(PeerCertificateInspector&&) = default;
  PeerCertificateInspector& operator=(PeerCertificateInspector&&) = default;

  // The certificate's identity, or Unauthenticated saying why it has none.
  absl::StatusOr<PeerCertificate> Inspect(std::string_view cert_pem) const;

 private:
  explicit PeerCertificateInspector(std::unique_ptr<TrustAnchors> anchors)
      : anchors_(std::move(anchors)) {}

  std::unique_ptr<TrustAnchors> anchors_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_IDENTITY_PEER_CERTIFICATE_H_
