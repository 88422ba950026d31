#include "common/transport/tls_config.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/certificate_chain.h"
#include "common/crypto/openssl_util.h"
#include "common/util/atomic_file.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using crypto_internal::BioPtr;
using crypto_internal::ParseCertificates;
using crypto_internal::ParsePrivateKey;
using crypto_internal::X509Ptr;

// Reads one of the three files; errors name the file's role and path.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const char* what) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no ", what, " path configured (or pass --insecure)"));
  }
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::Status(
        text.status().code(),
        absl::StrCat("TLS ", what, ": ", text.status().message()));
  }
  return text;
}

std::string NoPemMessage(const std::string& path, const char* what,
                         absl::string_view text) {
  std::string hint;
  if (absl::StrContains(text, "PRIVATE KEY-----")) {
    hint = absl::StrContains(text, "ENCRYPTED")
               ? " (it holds an encrypted private key; gRPC needs it "
                 "unencrypted)"
               : " (it holds a private key: are the certificate and key "
                 "paths swapped?)";
  } else if (absl::StrContains(text, "CERTIFICATE-----")) {
    hint =
        " (it holds a certificate: are the certificate and key paths "
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
        TimeText(X509_get0_notBefore(cert)), " (is this host's clock right?)"));
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

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsConfig& config) {
  TlsMaterial material;
  ASSIGN_OR_RETURN(material.ca_cert_pem,
                   ReadPemFile(config.ca_cert_path, "CA certificate"));
  ASSIGN_OR_RETURN(material.cert_pem,
                   ReadPemFile(config.cert_path, "certificate"));
  ASSIGN_OR_RETURN(std::string key_text,
                   ReadPemFile(config.key_path, "private key"));
  material.key_pem = SecretBytes::FromString(std::move(key_text));

  if (ParseCertificates(material.ca_cert_pem).empty()) {
    return absl::InvalidArgumentError(NoPemMessage(
        config.ca_cert_path, "CA certificate", material.ca_cert_pem));
  }
  std::vector<X509Ptr> chain = ParseCertificates(material.cert_pem);
  if (chain.empty()) {
    return absl::InvalidArgumentError(
        NoPemMessage(config.cert_path, "certificate", material.cert_pem));
  }
  absl::StatusOr<crypto_internal::EvpPkeyPtr> key =
      ParsePrivateKey(material.key_pem.view());
  if (!key.ok()) {
    // The hint inspects only the PEM labels; the message never holds key text.
    const std::string_view text = material.key_pem.view();
    return absl::InvalidArgumentError(
        NoPemMessage(config.key_path, "private key",
                     absl::string_view(text.data(), text.size())));
  }
  if (X509_check_private_key(chain.front().get(), key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS certificate ", config.cert_path, " and key ", config.key_path,
        " do not match (the key belongs to another certificate)"));
  }
  RETURN_IF_ERROR(CheckValidNow(config.cert_path, chain.front().get()));
  return material;
}

absl::Status VerifyOwnCertificateChain(const TlsConfig& config,
                                       const TlsMaterial& material) {
  ChainFailure failure;
  const absl::Status verdict = VerifyCertificateChain(
      material.ca_cert_pem, material.cert_pem, ChainRequirements(), &failure);
  if (verdict.ok()) return absl::OkStatus();
  if (failure.x509_error == 0) {
    // Not a verdict on the path: the PEM did not parse, or OpenSSL failed.
    return absl::InvalidArgumentError(
        absl::StrCat("TLS material from ", config.cert_path, " and ",
                     config.ca_cert_path, ": ", verdict.message()));
  }
  if (failure.NotIssuedByTrustedCa()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS certificate ", config.cert_path, " is not signed by the CA in ",
        config.ca_cert_path,
        ": it was issued by another CA, or that file is not this "
        "federation's ca.pem. The federation has one CA, so the peer will "
        "refuse this certificate or we will refuse the peer's"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("TLS certificate ", config.cert_path,
                   " does not verify against ", config.ca_cert_path, ": ",
                   failure.depth > 0 ? "the CA certificate: " : "",
                   X509_verify_cert_error_string(failure.x509_error)));
}

}  // namespace fedlearn
