// Signatures that bind a client's secure-aggregation keys to its identity:
// ECDSA P-256 / SHA-256 (or Ed25519, whichever the key is) with the
// client's TLS private key, verified against its X.509 certificate after
// checking that certificate chains to the federation's CA and carries the
// expected common name. A malicious server therefore cannot substitute keys.
//
// A party that checks many signatures from one signer (a secure-aggregation
// client checks each neighbour's key advertisement and later its consistency
// signature) verifies the certificate once into a VerifiedIdentity and checks
// every signature against the cached key: the chain check costs several
// times a signature check. The chain check itself is certificate_chain.h's,
// the one the rest of the tree uses.
#ifndef FEDLEARN_COMMON_CRYPTO_SIGNATURE_H_
#define FEDLEARN_COMMON_CRYPTO_SIGNATURE_H_

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/certificate_chain.h"
#include "common/crypto/verification_cache.h"

namespace fedlearn {

// A private key (EC P-256 or Ed25519) parsed once from PEM, for a signer
// that signs several messages: decoding the PEM costs several times a
// signature. Move-only; the key is freed (and OpenSSL clears its private
// scalar) on destruction. Never logs or echoes the key.
class SigningKey {
 public:
  // InvalidArgument unless `private_key_pem` is an EC or Ed25519 key. The
  // caller keeps (and wipes) its copy of the PEM; none is kept here.
  static absl::StatusOr<SigningKey> Create(std::string_view private_key_pem);

  SigningKey(SigningKey&&) = default;
  SigningKey& operator=(SigningKey&&) = default;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  // DER (EC) or raw 64-byte (Ed25519) signature of `message`.
  absl::StatusOr<std::string> Sign(std::string_view message) const;

 private:
  struct KeyDeleter {
    void operator()(EVP_PKEY* key) const;
  };
  using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

  explicit SigningKey(KeyPtr key) : key_(std::move(key)) {}

  KeyPtr key_;
};

// DER signature of `message` with a PEM private key (EC or Ed25519).
// One-shot form of SigningKey::Create + Sign.
absl::StatusOr<std::string> SignMessage(std::string_view private_key_pem,
                                        std::string_view message);

// The public key of a certificate that chains to the federation's CA, is
// meant for TLS clients, and names exactly one expected identity (CN). Holds
// no secret; move-only because it owns the OpenSSL key.
class VerifiedIdentity {
 public:
  // Unauthenticated, with the reason, unless `cert_pem` chains to `ca_pem`
  // (a self-signed root), is within its validity period, has the TLS-client
  // purpose and its only CN equals `expected_identity`.
  static absl::StatusOr<VerifiedIdentity> Create(
      std::string_view ca_pem, std::string_view cert_pem,
      std::string_view expected_identity);

  VerifiedIdentity(VerifiedIdentity&&) = default;
  VerifiedIdentity& operator=(VerifiedIdentity&&) = default;
  VerifiedIdentity(const VerifiedIdentity&) = delete;
  VerifiedIdentity& operator=(const VerifiedIdentity&) = delete;

  // OK iff `signature` is a valid signature of `message` by the certified
  // key; Unauthenticated otherwise. Certificate validity is not re-checked:
  // the caller decides how long a verification stands (one session here).
  // A triple that verified before in this process (any VerifiedIdentity of
  // the same CA, certificate and identity) is answered from
  // VerifiedSignatureCache without a second check (verification_cache.h).
  absl::Status Verify(std::string_view message,
                      std::string_view signature) const;

  const std::string& identity() const { return identity_; }

 private:
  friend class CertificateVerifier;

  struct KeyDeleter {
    void operator()(EVP_PKEY* key) const;
  };
  using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

  // `signer` is the VerifiedKeyCache key of the certificate behind `key`.
  VerifiedIdentity(std::string identity, std::string signer, KeyPtr key)
      : identity_(std::move(identity)),
        signer_(std::move(signer)),
        key_(std::move(key)) {}

  absl::Status VerifyUncached(std::string_view message,
                              std::string_view signature) const;

  std::string identity_;
  std::string signer_;
  KeyPtr key_;
};

// The federation's CA parsed once (TrustAnchors, certificate_chain.h), for
// a party that checks many certificates against it (a secure-aggregation
// client checks every neighbour's). The CA's store and every leaf that
// passed are memoised process-wide (verification_cache.h): a certificate
// seen again within its validity window is not parsed or re-verified.
// Move-only; thread-compatible (Verify is const and builds its own
// verification context).
class CertificateVerifier {
 public:
  // Unauthenticated unless `ca_pem` parses as a certificate.
  static absl::StatusOr<CertificateVerifier> Create(std::string_view ca_pem);

  CertificateVerifier(CertificateVerifier&&) = default;
  CertificateVerifier& operator=(CertificateVerifier&&) = default;
  CertificateVerifier(const CertificateVerifier&) = delete;
  CertificateVerifier& operator=(const CertificateVerifier&) = delete;

  // Exactly the checks of VerifiedIdentity::Create against this CA: the
  // chain check with the TLS-client purpose and the expected CN.
  absl::StatusOr<VerifiedIdentity> Verify(
      std::string_view cert_pem, std::string_view expected_identity) const;

 private:
  explicit CertificateVerifier(std::shared_ptr<const CachedAnchors> anchors)
      : anchors_(std::move(anchors)) {}

  // Parsed once per CA per process (verification_cache.h).
  std::shared_ptr<const CachedAnchors> anchors_;
};

// OK iff `cert_pem` chains to `ca_pem`, its CN equals `expected_identity`,
// and `signature` is a valid signature of `message` by its key.
// Unauthenticated otherwise, with the reason. One-shot form of
// VerifiedIdentity::Create + Verify.
absl::Status VerifySignedByIdentity(std::string_view ca_pem,
                                    std::string_view cert_pem,
                                    std::string_view expected_identity,
                                    std::string_view message,
                                    std::string_view signature);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_SIGNATURE_H_
