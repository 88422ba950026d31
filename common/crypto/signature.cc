#include "common/crypto/signature.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/openssl_util.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using crypto_internal::EvpMdCtxPtr;
using crypto_internal::EvpPkeyPtr;
using crypto_internal::OpenSslError;
using crypto_internal::X509Ptr;

// How many PEM certificates `pem` holds.
size_t CertificateCount(std::string_view pem) {
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  size_t count = 0;
  for (size_t at = pem.find(kBegin); at != std::string_view::npos;
       at = pem.find(kBegin, at + kBegin.size())) {
    ++count;
  }
  return count;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// The digest to pass to EVP_DigestSign/Verify for `key`: SHA-256 for EC,
// none for Ed25519 (PureEdDSA hashes internally, RFC 8032). Other key types
// are refused so that the scheme is always one the header names.
absl::StatusOr<const EVP_MD*> DigestFor(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
      return EVP_sha256();
    case EVP_PKEY_ED25519:
      return static_cast<const EVP_MD*>(nullptr);
    default:
      return absl::InvalidArgumentError(
          "signing key must be EC (P-256) or Ed25519");
  }
}

}  // namespace

void SigningKey::KeyDeleter::operator()(EVP_PKEY* key) const {
  EVP_PKEY_free(key);  // clears the private scalar before freeing
}

absl::StatusOr<SigningKey> SigningKey::Create(
    std::string_view private_key_pem) {
  absl::StatusOr<crypto_internal::EvpPkeyPtr> parsed =
      crypto_internal::ParsePrivateKey(private_key_pem);
  if (!parsed.ok()) {
    // The reason codes say why parsing failed; they never echo the key.
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse signing key: ", parsed.status().message()));
  }
  KeyPtr key(parsed->release());
  RETURN_IF_ERROR(DigestFor(key.get()).status());
  return SigningKey(std::move(key));
}

absl::StatusOr<std::string> SigningKey::Sign(std::string_view message) const {
  if (key_ == nullptr) {
    return absl::FailedPreconditionError("signing key was moved from");
  }
  ASSIGN_OR_RETURN(const EVP_MD* md, DigestFor(key_.get()));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "EVP_DigestSignInit");
  }
  size_t sig_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &sig_len, Bytes(message),
                     message.size()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "EVP_DigestSign (size)");
  }
  std::string signature(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(),
                     reinterpret_cast<unsigned char*>(signature.data()),
                     &sig_len, Bytes(message), message.size()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "EVP_DigestSign");
  }
  signature.resize(sig_len);  // DER ECDSA signatures vary in length
  return signature;
}

absl::StatusOr<std::string> SignMessage(std::string_view private_key_pem,
                                        std::string_view message) {
  ASSIGN_OR_RETURN(SigningKey key, SigningKey::Create(private_key_pem));
  return key.Sign(message);
}

absl::StatusOr<CertificateVerifier> CertificateVerifier::Create(
    std::string_view ca_pem) {
  ASSIGN_OR_RETURN(std::shared_ptr<const CachedAnchors> anchors,
                   SharedAnchors(ca_pem));
  return CertificateVerifier(std::move(anchors));
}

absl::StatusOr<VerifiedIdentity> CertificateVerifier::Verify(
    std::string_view cert_pem, std::string_view expected_identity) const {
  if (anchors_ == nullptr) {
    return absl::FailedPreconditionError("certificate verifier was moved from");
  }
  // 0. The same certificate, CA and identity passed steps 1-2 before and
  //    the whole chain is still within its validity period: the same key.
  VerifiedKeyCache& cache = VerifiedKeyCache::Shared();
  const std::string cache_key =
      VerifiedKeyCache::Key(*anchors_, cert_pem, expected_identity);
  const std::time_t now = std::time(nullptr);
  if (EvpPkeyPtr cached = cache.Find(cache_key, now)) {
    return VerifiedIdentity(std::string(expected_identity), cache_key,
                            VerifiedIdentity::KeyPtr(cached.release()));
  }
  // 1. The certificate chains to the federation's CA, every certificate on
  //    the path is valid now, it is meant for TLS clients (so the server's
  //    own certificate cannot stand in for a client), and its only CN is the
  //    expected identity.
  ChainRequirements requirements;
  requirements.purpose = CertificatePurpose::kTlsClient;
  requirements.common_name = expected_identity;
  ASSIGN_OR_RETURN(X509Ptr cert,
                   anchors_->anchors.VerifyLeaf(cert_pem, requirements));

  // 2. Its key is one of the schemes the header names. X509_get_pubkey takes
  //    a reference, so the key outlives the certificate.
  VerifiedIdentity::KeyPtr key(X509_get_pubkey(cert.get()));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kUnauthenticated,
                        "certificate has no usable public key");
  }
  absl::StatusOr<const EVP_MD*> md = DigestFor(key.get());
  if (!md.ok()) return absl::UnauthenticatedError(md.status().message());
  // Memoised only for a lone leaf signed by an anchor (how this federation
  // issues them), where the chain's window is the leaf's and the anchors'.
  absl::StatusOr<ValidityWindow> window = ValidityOf(cert.get());
  if (window.ok() && CertificateCount(cert_pem) == 1) {
    cache.Insert(cache_key, key.get(), window->Intersect(anchors_->window));
  }
  return VerifiedIdentity(std::string(expected_identity), cache_key,
                          std::move(key));
}

void VerifiedIdentity::KeyDeleter::operator()(EVP_PKEY* key) const {
  EVP_PKEY_free(key);
}

absl::StatusOr<VerifiedIdentity> VerifiedIdentity::Create(
    std::string_view ca_pem, std::string_view cert_pem,
    std::string_view expected_identity) {
  ASSIGN_OR_RETURN(CertificateVerifier verifier,
                   CertificateVerifier::Create(ca_pem));
  return verifier.Verify(cert_pem, expected_identity);
}

absl::Status VerifiedIdentity::Verify(std::string_view message,
                                      std::string_view signature) const {
  if (key_ == nullptr) {
    return absl::FailedPreconditionError("verified identity was moved from");
  }
  VerifiedSignatureCache& cache = VerifiedSignatureCache::Shared();
  std::string memo = VerifiedSignatureCache::Key(signer_, message, signature);
  if (cache.Contains(memo)) return absl::OkStatus();
  RETURN_IF_ERROR(VerifyUncached(message, signature));
  cache.Insert(std::move(memo));
  return absl::OkStatus();
}

absl::Status VerifiedIdentity::VerifyUncached(
    std::string_view message, std::string_view signature) const {
  absl::StatusOr<const EVP_MD*> md = DigestFor(key_.get());
  if (!md.ok()) return absl::UnauthenticatedError(md.status().message());
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, *md, nullptr, key_.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "EVP_DigestVerifyInit");
  }
  if (EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(),
                       Bytes(message), message.size()) != 1) {
    return OpenSslError(absl::StatusCode::kUnauthenticated,
                        "signature does not verify");
  }
  return absl::OkStatus();
}

absl::Status VerifySignedByIdentity(std::string_view ca_pem,
                                    std::string_view cert_pem,
                                    std::string_view expected_identity,
                                    std::string_view message,
                                    std::string_view signature) {
  ASSIGN_OR_RETURN(
      VerifiedIdentity identity,
      VerifiedIdentity::Create(ca_pem, cert_pem, expected_identity));
  return identity.Verify(message, signature);
}

}  // namespace fedlearn
