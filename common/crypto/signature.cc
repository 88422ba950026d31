#include "common/crypto/signature.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/openssl_util.h"

namespace fedlearn {
namespace {

using crypto_internal::BioPtr;
using crypto_internal::EvpMdCtxPtr;
using crypto_internal::EvpPkeyPtr;
using crypto_internal::MemoryBio;
using crypto_internal::OpenSslError;
using crypto_internal::X509Ptr;
using crypto_internal::X509StoreCtxPtr;

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

absl::StatusOr<X509Ptr> ParseCertificate(std::string_view pem,
                                         std::string_view what) {
  BioPtr bio = MemoryBio(pem);
  X509Ptr cert(bio == nullptr
                   ? nullptr
                   : PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return OpenSslError(
        absl::StatusCode::kUnauthenticated,
        absl::StrCat("cannot parse ", std::string(what), " certificate"));
  }
  return cert;
}

// The subject's only CN, compared by length and bytes so an embedded NUL
// ("alice\0.evil") cannot pass for "alice".
absl::Status CheckCommonName(X509* cert, std::string_view expected) {
  X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) {
    return absl::UnauthenticatedError("certificate has no common name");
  }
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) {
    return absl::UnauthenticatedError("certificate has several common names");
  }
  const ASN1_STRING* cn =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, cn);
  if (len < 0) {
    return OpenSslError(absl::StatusCode::kUnauthenticated,
                        "certificate common name is not valid text");
  }
  const std::string actual(reinterpret_cast<char*>(utf8), len);
  OPENSSL_free(utf8);
  if (actual != expected) {
    return absl::UnauthenticatedError(
        absl::StrCat("certificate is for \"", actual, "\", expected \"",
                     std::string(expected), "\""));
  }
  return absl::OkStatus();
}

}  // namespace

void SigningKey::KeyDeleter::operator()(EVP_PKEY* key) const {
  EVP_PKEY_free(key);  // clears the private scalar before freeing
}

absl::StatusOr<SigningKey> SigningKey::Create(std::string_view private_key_pem) {
  BioPtr bio = MemoryBio(private_key_pem);
  KeyPtr key(bio == nullptr ? nullptr
                            : PEM_read_bio_PrivateKey(bio.get(), nullptr,
                                                      nullptr, nullptr));
  if (key == nullptr) {
    // The reason codes say why parsing failed; they never echo the key.
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "cannot parse signing key");
  }
  absl::StatusOr<const EVP_MD*> md = DigestFor(key.get());
  if (!md.ok()) return md.status();
  return SigningKey(std::move(key));
}

absl::StatusOr<std::string> SigningKey::Sign(std::string_view message) const {
  if (key_ == nullptr) {
    return absl::FailedPreconditionError("signing key was moved from");
  }
  absl::StatusOr<const EVP_MD*> md = DigestFor(key_.get());
  if (!md.ok()) return md.status();
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, *md, nullptr, key_.get()) != 1) {
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
  absl::StatusOr<SigningKey> key = SigningKey::Create(private_key_pem);
  if (!key.ok()) return key.status();
  return key->Sign(message);
}

void CertificateVerifier::StoreDeleter::operator()(X509_STORE* store) const {
  X509_STORE_free(store);
}

absl::StatusOr<CertificateVerifier> CertificateVerifier::Create(
    std::string_view ca_pem) {
  absl::StatusOr<X509Ptr> ca = ParseCertificate(ca_pem, "CA");
  if (!ca.ok()) return ca.status();
  // The store takes its own reference to the CA certificate.
  StorePtr store(X509_STORE_new());
  if (store == nullptr || X509_STORE_add_cert(store.get(), ca->get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "X509 store setup");
  }
  return CertificateVerifier(std::move(store));
}

absl::StatusOr<VerifiedIdentity> CertificateVerifier::Verify(
    std::string_view cert_pem, std::string_view expected_identity) const {
  if (store_ == nullptr) {
    return absl::FailedPreconditionError("certificate verifier was moved from");
  }
  absl::StatusOr<X509Ptr> cert = ParseCertificate(cert_pem, "signer");
  if (!cert.ok()) return cert.status();

  // 1. The certificate chains to the federation's (self-signed root) CA, is
  //    within its validity period and is meant for TLS clients, so the
  //    server's own certificate cannot stand in for a client.
  X509StoreCtxPtr store_ctx(X509_STORE_CTX_new());
  if (store_ctx == nullptr ||
      X509_STORE_CTX_init(store_ctx.get(), store_.get(), cert->get(), nullptr) !=
          1 ||
      X509_STORE_CTX_set_purpose(store_ctx.get(), X509_PURPOSE_SSL_CLIENT) !=
          1) {
    return OpenSslError(absl::StatusCode::kInternal, "X509 store setup");
  }
  if (X509_verify_cert(store_ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(store_ctx.get());
    OpenSslError(absl::StatusCode::kUnauthenticated, "").IgnoreError();
    return absl::UnauthenticatedError(
        absl::StrCat("certificate does not chain to the federation CA: ",
                     X509_verify_cert_error_string(err)));
  }

  // 2. It names the identity the caller expects.
  if (absl::Status s = CheckCommonName(cert->get(), expected_identity);
      !s.ok()) {
    return s;
  }

  // 3. Its key is one of the schemes the header names. X509_get_pubkey takes
  //    a reference, so the key outlives the certificate.
  VerifiedIdentity::KeyPtr key(X509_get_pubkey(cert->get()));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kUnauthenticated,
                        "certificate has no usable public key");
  }
  absl::StatusOr<const EVP_MD*> md = DigestFor(key.get());
  if (!md.ok()) return absl::UnauthenticatedError(md.status().message());
  return VerifiedIdentity(std::string(expected_identity), std::move(key));
}

void VerifiedIdentity::KeyDeleter::operator()(EVP_PKEY* key) const {
  EVP_PKEY_free(key);
}

absl::StatusOr<VerifiedIdentity> VerifiedIdentity::Create(
    std::string_view ca_pem, std::string_view cert_pem,
    std::string_view expected_identity) {
  absl::StatusOr<CertificateVerifier> verifier =
      CertificateVerifier::Create(ca_pem);
  if (!verifier.ok()) return verifier.status();
  return verifier->Verify(cert_pem, expected_identity);
}

absl::Status VerifiedIdentity::Verify(std::string_view message,
                                      std::string_view signature) const {
  if (key_ == nullptr) {
    return absl::FailedPreconditionError("verified identity was moved from");
  }
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
  absl::StatusOr<VerifiedIdentity> identity =
      VerifiedIdentity::Create(ca_pem, cert_pem, expected_identity);
  if (!identity.ok()) return identity.status();
  return identity->Verify(message, signature);
}

}  // namespace fedlearn
