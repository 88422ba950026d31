#include "server/identity/peer_certificate.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/openssl_util.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using crypto_internal::X509Ptr;

absl::Status Refuse(absl::string_view why) {
  return absl::UnauthenticatedError(
      absl::StrCat("client certificate refused: ", why));
}

// OK iff the leaf has an extendedKeyUsage extension that includes clientAuth.
// OpenSSL's TLS-client purpose check passes a certificate with no EKU at all;
// this one does not.
absl::Status CheckClientAuthUsage(X509* leaf) {
  const uint32_t flags = X509_get_extension_flags(leaf);
  if ((flags & EXFLAG_XKUSAGE) == 0) {
    return Refuse(
        "it has no extendedKeyUsage; a site certificate must carry "
        "clientAuth");
  }
  if ((X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT) == 0) {
    return Refuse(
        "its extendedKeyUsage lacks clientAuth (a server certificate cannot "
        "stand in for a site)");
  }
  return absl::OkStatus();
}

int64_t NotAfterUnix(X509* leaf) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

absl::StatusOr<PeerCertificateInspector> PeerCertificateInspector::Create(
    std::string_view ca_pem) {
  if (ca_pem.empty()) return PeerCertificateInspector(nullptr);
  ASSIGN_OR_RETURN(TrustAnchors anchors, TrustAnchors::Create(ca_pem));
  return PeerCertificateInspector(
      std::make_unique<TrustAnchors>(std::move(anchors)));
}

absl::StatusOr<PeerCertificate> PeerCertificateInspector::Inspect(
    std::string_view cert_pem) const {
  ChainRequirements requirements;
  requirements.purpose = CertificatePurpose::kTlsClient;
  absl::StatusOr<X509Ptr> leaf =
      anchors_ != nullptr ? anchors_->VerifyLeaf(cert_pem, requirements)
                          : crypto_internal::ParseCertificate(cert_pem);
  if (!leaf.ok()) return Refuse(leaf.status().message());
  absl::StatusOr<std::string> cn = CommonNameOf(leaf->get());
  if (!cn.ok()) {
    return Refuse(
        absl::StrCat("its subject must carry exactly one common "
                     "name (",
                     cn.status().message(), ")"));
  }
  if (absl::Status s = ValidateClientId(*cn); !s.ok()) {
    return Refuse(absl::StrCat("common name '", EscapeUntrusted(*cn, 64),
                               "' is not a valid client id"));
  }
  RETURN_IF_ERROR(CheckClientAuthUsage(leaf->get()));
  PeerCertificate peer;
  peer.client_id = *std::move(cn);
  absl::StatusOr<CertificateRole> role = RoleOfCertificate(cert_pem);
  if (!role.ok()) return Refuse(role.status().message());
  peer.role = *role;
  absl::StatusOr<std::string> serial = SerialOfCertificate(cert_pem);
  if (!serial.ok()) return Refuse(serial.status().message());
  peer.serial = *std::move(serial);
  peer.not_after_unix = NotAfterUnix(leaf->get());
  return peer;
}

}  // namespace fedlearn
