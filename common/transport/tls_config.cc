#include "common/transport/tls_config.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/util/atomic_file.h"

namespace fedlearn {
namespace {

template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;
using StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;
// sk_X509_free is a macro; the stack does not own its certificates.
struct X509StackFree {
  void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate in a PEM file, in order. Empty if there is none.
std::vector<X509Ptr> ReadCertificates(const std::string& pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio = MemoryBio(pem);
  while (bio != nullptr) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) break;
    certs.push_back(std::move(cert));
  }
  ERR_clear_error();  // the read past the last certificate
  return certs;
}

// Refuses to prompt for a passphrase: gRPC takes only unencrypted keys.
int NoPassphrase(char*, int, int, void*) { return 0; }

std::string NoPemMessage(const std::string& path, const char* what,
                         const std::string& text) {
  std::string hint;
  if (absl::StrContains(text, "PRIVATE KEY-----")) {
    hint = absl::StrContains(text, "ENCRYPTED")
               ? " (it holds an encrypted private key; gRPC needs it "
                 "unencrypted)"
               : " (it holds a private key: are the certificate and key "
                 "paths swapped?)";
  } else if (absl::StrContains(text, "CERTIFICATE-----")) {
    hint = " (it holds a certificate: are the certificate and key paths "
           "swapped?)";
  } else if (text.empty()) {
    hint = " (the file is empty)";
  } else if (!absl::StrContains(text, "-----BEGIN ")) {
    hint = " (not PEM: DER or another format?)";
  }
  return absl::StrCat("TLS ", what, " file ", path, " holds no PEM ", what,
                      hint);
}

std::string TimeText(const ASN1_TIME* time) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || ASN1_TIME_print(bio.get(), time) != 1) {
    return "(unreadable time)";
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::Status CheckValidNow(const std::string& path, X509* cert) {
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "TLS certificate ", path, " is not valid until ",
        TimeText(X509_get0_notBefore(cert)),
        " (is this host's clock right?)"));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "TLS certificate ", path, " expired on ",
        TimeText(X509_get0_notAfter(cert)),
        "; issue a new one (fedlearn-certs issue for a site, fedlearn-certs "
        "init for the coordinator)"));
  }
  return absl::OkStatus();
}

}  // namespace

TlsConfig TlsConfig::FromDirectory(const std::string& dir,
                                   const std::string& name) {
  TlsConfig config;
  config.ca_cert_path = absl::StrCat(dir, "/ca.pem");
  config.cert_path = absl::StrCat(dir, "/", name, ".pem");
  config.key_path = absl::StrCat(dir, "/", name, ".key");
  return config;
}

TlsMaterial::~TlsMaterial() {
  if (!key_pem.empty()) OPENSSL_cleanse(key_pem.data(), key_pem.size());
}

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsConfig& config) {
  TlsMaterial material;
  struct Item {
    const std::string* path;
    std::string* out;
    const char* what;
  } items[] = {{&config.ca_cert_path, &material.ca_cert_pem, "CA certificate"},
               {&config.cert_path, &material.cert_pem, "certificate"},
               {&config.key_path, &material.key_pem, "private key"}};
  for (const Item& item : items) {
    if (item.path->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no ", item.what, " path configured (or pass --insecure)"));
    }
    absl::StatusOr<std::string> text = ReadFileToString(*item.path);
    if (!text.ok()) {
      return absl::Status(
          text.status().code(),
          absl::StrCat("TLS ", item.what, ": ", text.status().message()));
    }
    *item.out = *std::move(text);
  }

  if (ReadCertificates(material.ca_cert_pem).empty()) {
    return absl::InvalidArgumentError(NoPemMessage(
        config.ca_cert_path, "CA certificate", material.ca_cert_pem));
  }
  std::vector<X509Ptr> chain = ReadCertificates(material.cert_pem);
  if (chain.empty()) {
    return absl::InvalidArgumentError(
        NoPemMessage(config.cert_path, "certificate", material.cert_pem));
  }
  EvpPkeyPtr key;
  if (BioPtr bio = MemoryBio(material.key_pem); bio != nullptr) {
    key.reset(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  }
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        NoPemMessage(config.key_path, "private key", material.key_pem));
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS certificate ", config.cert_path, " and key ", config.key_path,
        " do not match (the key belongs to another certificate)"));
  }
  if (absl::Status s = CheckValidNow(config.cert_path, chain.front().get());
      !s.ok()) {
    return s;
  }
  return material;
}

absl::Status VerifyOwnCertificateChain(const TlsConfig& config,
                                       const TlsMaterial& material) {
  std::vector<X509Ptr> anchors = ReadCertificates(material.ca_cert_pem);
  std::vector<X509Ptr> chain = ReadCertificates(material.cert_pem);
  if (anchors.empty() || chain.empty()) {
    return absl::InvalidArgumentError("TLS material holds no certificate");
  }
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509StackPtr intermediates(sk_X509_new_null());
  if (store == nullptr || ctx == nullptr || intermediates == nullptr) {
    return absl::ResourceExhaustedError("OpenSSL: out of memory");
  }
  for (const X509Ptr& anchor : anchors) {
    X509_STORE_add_cert(store.get(), anchor.get());
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    sk_X509_push(intermediates.get(), chain[i].get());
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), chain.front().get(),
                          intermediates.get()) != 1) {
    ERR_clear_error();
    return absl::InternalError("OpenSSL: cannot set up certificate check");
  }
  const bool ok = X509_verify_cert(ctx.get()) == 1;
  const int error = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  if (ok) return absl::OkStatus();
  const bool unsigned_by_ca =
      error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
      error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
      error == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
      error == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
      error == X509_V_ERR_CERT_SIGNATURE_FAILURE;
  if (unsigned_by_ca) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS certificate ", config.cert_path,
        " is not signed by the CA in ", config.ca_cert_path,
        ": it was issued by another CA, or that file is not this "
        "federation's ca.pem. The federation has one CA, so the peer will "
        "refuse this certificate or we will refuse the peer's"));
  }
  const bool ca_at_fault = X509_STORE_CTX_get_error_depth(ctx.get()) > 0;
  return absl::InvalidArgumentError(absl::StrCat(
      "TLS certificate ", config.cert_path, " does not verify against ",
      config.ca_cert_path, ": ", ca_at_fault ? "the CA certificate: " : "",
      X509_verify_cert_error_string(error)));
}

}  // namespace fedlearn
