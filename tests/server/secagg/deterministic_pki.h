// A CA and client certificates whose every byte follows from a seed, for
// tests that replay a secure-aggregation round byte for byte.
//
// Why not the harness's TestPki: its keys are fresh P-256 keys with random
// serials and validity starting now, and ECDSA signatures draw a fresh nonce
// inside OpenSSL (OpenSSL 3.0 has no RFC 6979 mode), so the AdvertiseKeys
// and ConsistencyCheck messages would differ on every run. Here keys are
// Ed25519 (RFC 8032: signatures are deterministic) drawn from
// DeterministicPrngForTesting, serials are fixed, and validity runs from
// 2024-01-01 to 2124-01-01, so certificates are identical in every run and
// still pass CertificateVerifier (chain, TLS-client purpose, CN). Test-only.
#ifndef FEDLEARN_TESTS_SERVER_SECAGG_DETERMINISTIC_PKI_H_
#define FEDLEARN_TESTS_SERVER_SECAGG_DETERMINISTIC_PKI_H_

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "client/secagg/client_state.h"
#include "common/crypto/secret_bytes.h"
#include "common/crypto/secure_prng.h"
#include "common/util/status_macros.h"

namespace fedlearn::testing {

class DeterministicPki {
 public:
  // A CA ("secagg-golden-ca") and one certificate per id in `client_ids`,
  // all derived from `seed`.
  static absl::StatusOr<DeterministicPki> Create(
      const std::string& seed, const std::vector<std::string>& client_ids) {
    DeterministicPki pki;
    DeterministicPrngForTesting prng(seed);
    KeyPtr ca_key;
    RETURN_IF_ERROR(NewKey(prng, &ca_key));
    ASSIGN_OR_RETURN(CertPtr ca, Issue("secagg-golden-ca", 1, ca_key.get(),
                                       nullptr, ca_key.get()));
    pki.ca_pem_ = CertPem(ca.get());
    for (size_t i = 0; i < client_ids.size(); ++i) {
      KeyPtr key;
      RETURN_IF_ERROR(NewKey(prng, &key));
      ASSIGN_OR_RETURN(CertPtr cert, Issue(client_ids[i], 2 + i, key.get(),
                                           ca.get(), ca_key.get()));
      pki.clients_.push_back(
          {client_ids[i], CertPem(cert.get()), KeyPem(key.get())});
    }
    return pki;
  }

  SecAggIdentity Identity(int i) const {
    const Client& c = clients_[i];
    return SecAggIdentity{
        c.id, c.cert_pem,
        SecretBytes(reinterpret_cast<const uint8_t*>(c.key_pem.data()),
                    c.key_pem.size()),
        ca_pem_};
  }
  const std::string& ca_pem() const { return ca_pem_; }

 private:
  struct Client {
    std::string id;
    std::string cert_pem;
    std::string key_pem;
  };
  struct KeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  struct CertFree {
    void operator()(X509* c) const { X509_free(c); }
  };
  using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
  using CertPtr = std::unique_ptr<X509, CertFree>;

  static absl::Status NewKey(SecurePrng& prng, KeyPtr* out) {
    uint8_t raw[32];
    RETURN_IF_ERROR(prng.Fill(absl::MakeSpan(raw)));
    out->reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw,
                                            sizeof(raw)));
    OPENSSL_cleanse(raw, sizeof(raw));
    if (*out == nullptr) return absl::InternalError("Ed25519 key");
    return absl::OkStatus();
  }

  // `issuer` null: self-signed CA.
  static absl::StatusOr<CertPtr> Issue(const std::string& cn, uint64_t serial,
                                       EVP_PKEY* key, X509* issuer,
                                       EVP_PKEY* issuer_key) {
    CertPtr cert(X509_new());
    X509_NAME* name = X509_NAME_new();
    bool ok =
        cert != nullptr && name != nullptr &&
        X509_set_version(cert.get(), 2) == 1 &&
        ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial) ==
            1 &&
        X509_NAME_add_entry_by_NID(
            name, NID_commonName, MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
            0) == 1 &&
        X509_set_subject_name(cert.get(), name) == 1 &&
        X509_set_issuer_name(
            cert.get(), issuer ? X509_get_subject_name(issuer) : name) == 1 &&
        ASN1_TIME_set_string_X509(X509_getm_notBefore(cert.get()),
                                  "20240101000000Z") == 1 &&
        ASN1_TIME_set_string_X509(X509_getm_notAfter(cert.get()),
                                  "21240101000000Z") == 1 &&
        X509_set_pubkey(cert.get(), key) == 1;
    X509_NAME_free(name);
    if (!ok) return absl::InternalError(absl::StrCat("certificate for ", cn));
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr,
                   nullptr, 0);
    const bool ca = issuer == nullptr;
    const std::vector<std::pair<int, const char*>> extensions = {
        {NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
        {NID_key_usage,
         ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
        {NID_ext_key_usage, ca ? nullptr : "clientAuth"},
    };
    for (const auto& [nid, value] : extensions) {
      if (value == nullptr) continue;
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      const bool added = ext != nullptr && X509_add_ext(cert.get(), ext, -1);
      X509_EXTENSION_free(ext);
      if (!added) return absl::InternalError(absl::StrCat("extension ", nid));
    }
    // Ed25519 hashes internally: no digest (RFC 8410).
    if (X509_sign(cert.get(), issuer_key, nullptr) <= 0) {
      return absl::InternalError(absl::StrCat("signing ", cn));
    }
    return cert;
  }

  static std::string BioText(BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(len));
    BIO_free(bio);
    return out;
  }
  static std::string CertPem(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    return BioText(bio);
  }
  static std::string KeyPem(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    return BioText(bio);
  }

  std::string ca_pem_;
  std::vector<Client> clients_;
};

}  // namespace fedlearn::testing

#endif  // FEDLEARN_TESTS_SERVER_SECAGG_DETERMINISTIC_PKI_H_
