#include "server/secagg/advertisement_verifier.h"

#include "absl/strings/str_cat.h"
#include "common/secagg/canonical_bytes.h"

namespace fedlearn {

absl::StatusOr<std::unique_ptr<CertificateAdvertisementVerifier>>
CertificateAdvertisementVerifier::Create(std::string_view ca_pem) {
  absl::StatusOr<CertificateVerifier> ca = CertificateVerifier::Create(ca_pem);
  if (!ca.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the CA for secure-aggregation key checks: ", ca.status().message()));
  }
  return std::unique_ptr<CertificateAdvertisementVerifier>(
      new CertificateAdvertisementVerifier(*std::move(ca)));
}

absl::Status CertificateAdvertisementVerifier::Verify(
    std::string_view session_id, uint64_t round, const std::string& client_id,
    const v1::AdvertiseKeys& keys) const {
  absl::StatusOr<VerifiedIdentity> signer =
      ca_.Verify(keys.certificate_pem(), client_id);
  if (!signer.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("its certificate is not a client certificate for its own "
                     "identity from the federation CA: ",
                     signer.status().message()));
  }
  const std::string payload = AdvertiseSignaturePayload(
      session_id, round, client_id, keys.encryption_public_key(),
      keys.masking_public_key());
  if (absl::Status s = signer->Verify(payload, keys.signature()); !s.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the signature over its keys does not verify: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
