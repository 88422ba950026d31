#include "common/crypto/certificate_chain.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <ctime>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using crypto_internal::OpenSslError;
using crypto_internal::ParseCertificate;
using crypto_internal::ParseCertificates;
using crypto_internal::X509Ptr;
using crypto_internal::X509StoreCtxPtr;
using crypto_internal::X509StorePtr;

// sk_X509_free is a macro; the stack does not own its certificates.
struct X509StackFree {
  void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

int PurposeId(CertificatePurpose purpose) {
  switch (purpose) {
    case CertificatePurpose::kTlsClient:
      return X509_PURPOSE_SSL_CLIENT;
    case CertificatePurpose::kAny:
      break;
  }
  return 0;
}

absl::Status CheckCommonName(X509* cert, std::string_view expected) {
  absl::StatusOr<std::string> actual = CommonNameOf(cert);
  if (!actual.ok())
    return absl::UnauthenticatedError(actual.status().message());
  if (*actual != expected) {
    // Both names come from the network: escaped, so they cannot forge lines.
    return absl::UnauthenticatedError(absl::StrCat(
        "certificate is for \"", absl::CHexEscape(*actual), "\", expected \"",
        absl::CHexEscape(absl::string_view(expected.data(), expected.size())),
        "\""));
  }
  return absl::OkStatus();
}

// Runs X509_verify_cert on `leaf` with `intermediates` against `store`.
absl::Status VerifyPath(X509_STORE* store, X509* leaf,
                        STACK_OF(X509) * intermediates,
                        CertificatePurpose purpose, ChainFailure* failure) {
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store, leaf, intermediates) != 1 ||
      (purpose != CertificatePurpose::kAny &&
       X509_STORE_CTX_set_purpose(ctx.get(), PurposeId(purpose)) != 1)) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "cannot set up the certificate check");
  }
  const bool ok = X509_verify_cert(ctx.get()) == 1;
  ChainFailure verdict;
  if (!ok) {
    verdict.x509_error = X509_STORE_CTX_get_error(ctx.get());
    verdict.depth = X509_STORE_CTX_get_error_depth(ctx.get());
  }
  ERR_clear_error();
  if (failure != nullptr) *failure = verdict;
  if (ok) return absl::OkStatus();
  return absl::UnauthenticatedError(
      absl::StrCat("certificate does not chain to the CA: ",
                   verdict.depth > 0 ? "the CA or an intermediate: " : "",
                   X509_verify_cert_error_string(verdict.x509_error)));
}

}  // namespace

bool ChainFailure::NotIssuedByTrustedCa() const {
  return x509_error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
         x509_error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
         x509_error == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
         x509_error == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
         x509_error == X509_V_ERR_CERT_SIGNATURE_FAILURE;
}

absl::StatusOr<TrustAnchors> TrustAnchors::Create(std::string_view ca_pem) {
  std::vector<X509Ptr> anchors = ParseCertificates(ca_pem);
  if (anchors.empty()) {
    return absl::UnauthenticatedError("cannot parse the CA certificate");
  }
  // The store takes its own reference to each certificate.
  X509StorePtr store(X509_STORE_new());
  if (store == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "X509 store setup");
  }
  for (const X509Ptr& anchor : anchors) {
    if (X509_STORE_add_cert(store.get(), anchor.get()) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "X509 store setup");
    }
  }
  return TrustAnchors(std::move(store));
}

absl::StatusOr<X509Ptr> TrustAnchors::VerifyLeaf(
    std::string_view cert_chain_pem, const ChainRequirements& requirements,
    ChainFailure* failure) const {
  if (store_ == nullptr) {
    return absl::FailedPreconditionError("trust anchors were moved from");
  }
  std::vector<X509Ptr> chain = ParseCertificates(cert_chain_pem);
  if (chain.empty()) {
    return absl::UnauthenticatedError("cannot parse the certificate");
  }
  X509StackPtr intermediates(sk_X509_new_null());
  if (intermediates == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "X509 stack");
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (sk_X509_push(intermediates.get(), chain[i].get()) <= 0) {
      return OpenSslError(absl::StatusCode::kInternal, "X509 stack");
    }
  }
  RETURN_IF_ERROR(VerifyPath(store_.get(), chain.front().get(),
                             intermediates.get(), requirements.purpose,
                             failure));
  if (requirements.common_name.has_value()) {
    RETURN_IF_ERROR(
        CheckCommonName(chain.front().get(), *requirements.common_name));
  }
  return std::move(chain.front());
}

absl::Status TrustAnchors::Verify(std::string_view cert_chain_pem,
                                  const ChainRequirements& requirements,
                                  ChainFailure* failure) const {
  return VerifyLeaf(cert_chain_pem, requirements, failure).status();
}

absl::Status VerifyCertificateChain(std::string_view ca_pem,
                                    std::string_view cert_chain_pem,
                                    const ChainRequirements& requirements,
                                    ChainFailure* failure) {
  ASSIGN_OR_RETURN(TrustAnchors anchors, TrustAnchors::Create(ca_pem));
  return anchors.Verify(cert_chain_pem, requirements, failure);
}

absl::StatusOr<std::string> CommonNameOf(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return absl::NotFoundError("certificate has no common name");
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) {
    return absl::InvalidArgumentError("certificate has several common names");
  }
  unsigned char* utf8 = nullptr;
  const int size = ASN1_STRING_to_UTF8(
      &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
  if (size < 0) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "certificate common name is not valid text");
  }
  std::string common_name(reinterpret_cast<char*>(utf8), size);
  OPENSSL_free(utf8);
  return common_name;
}

namespace {

absl::StatusOr<absl::Time> AsnTimeToTime(const ASN1_TIME* time,
                                         const char* what) {
  std::tm tm = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("certificate ", what, " does not parse"));
  }
  return absl::FromTM(tm, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<ValidityPeriod> ValidityPeriodOf(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(cert_pem));
  ValidityPeriod period;
  ASSIGN_OR_RETURN(period.not_before,
                   AsnTimeToTime(X509_get0_notBefore(cert.get()), "notBefore"));
  ASSIGN_OR_RETURN(period.not_after,
                   AsnTimeToTime(X509_get0_notAfter(cert.get()), "notAfter"));
  return period;
}

}  // namespace fedlearn
