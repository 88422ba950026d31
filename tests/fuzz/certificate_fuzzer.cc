// The tree's X.509 entry points (common/crypto/certificate_chain.h,
// common/tls/cert_authority.h, common/tls/revocation_list.h) on arbitrary
// PEM, and on arbitrary DER wrapped in a PEM block so OpenSSL's parser hands
// our code certificates of any shape. The first byte picks what the input
// is: a CA bundle (checked against a real client certificate), a chain
// (checked against a real CA, with and without a CN requirement), a
// certificate to read names, role and serial from, or a CRL. Nothing may
// crash, and the OpenSSL error queue must be left empty.
#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/crypto/certificate_chain.h"
#include "common/tls/cert_authority.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

namespace fedlearn {
namespace {

struct RealPki {
  PemKeyPair ca;
  PemKeyPair client;
};

const RealPki& Pki() {
  static const RealPki* pki = [] {
    auto* p = new RealPki;
    absl::StatusOr<PemKeyPair> ca = CreateCertificateAuthority("fuzz-ca", 30);
    fuzz::FuzzCheck(ca.ok(), "cannot create the fuzz CA");
    p->ca = *std::move(ca);
    absl::StatusOr<PemKeyPair> client =
        IssueClientCertificate(p->ca, "site-a", 30);
    fuzz::FuzzCheck(client.ok(), "cannot issue the fuzz client certificate");
    p->client = *std::move(client);
    return p;
  }();
  return *pki;
}

// `der` base64-encoded into a PEM block of `label`.
std::string WrapPem(std::string_view der, const char* label) {
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                      reinterpret_cast<const unsigned char*>(der.data()),
                      static_cast<int>(der.size()));
  b64.resize(n);
  std::string pem = std::string("-----BEGIN ") + label + "-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) {
    pem += b64.substr(i, 64) + "\n";
  }
  return pem + "-----END " + label + "-----\n";
}

// Aborts naming `what` if it left an error on OpenSSL's queue (a later,
// unrelated OpenSSL caller such as a TLS handshake would report it).
void QueueEmptyAfter(const char* what) {
  if (ERR_peek_error() == 0) return;
  std::fprintf(stderr, "OpenSSL error queue left non-empty by %s: %s\n", what,
               ERR_error_string(ERR_peek_error(), nullptr));
  std::abort();
}

void ReadCertificate(const std::string& pem) {
  (void)CommonNameOfCertificate(pem);
  QueueEmptyAfter("CommonNameOfCertificate");
  (void)SubjectAltNamesOfCertificate(pem);
  QueueEmptyAfter("SubjectAltNamesOfCertificate");
  (void)RoleOfCertificate(pem);
  QueueEmptyAfter("RoleOfCertificate");
  (void)SerialOfCertificate(pem);
  QueueEmptyAfter("SerialOfCertificate");
}

void Exercise(uint8_t mode, const std::string& input) {
  const RealPki& pki = Pki();
  switch (mode % 5) {
    case 0: {  // an untrusted CA bundle
      absl::StatusOr<TrustAnchors> anchors = TrustAnchors::Create(input);
      if (anchors.ok()) (void)anchors->Verify(pki.client.cert_pem);
      break;
    }
    case 1: {  // a presented chain, against the real CA
      static const TrustAnchors* anchors =
          new TrustAnchors(*TrustAnchors::Create(pki.ca.cert_pem));
      ChainRequirements requirements;
      requirements.purpose = CertificatePurpose::kTlsClient;
      ChainFailure failure;
      (void)anchors->Verify(input, {}, &failure);
      (void)failure.NotIssuedByTrustedCa();
      requirements.common_name = "site-a";
      (void)anchors->VerifyLeaf(input, requirements, nullptr);
      break;
    }
    case 2:
      ReadCertificate(input);
      break;
    case 3:  // a CRL, against the real CA and against itself as the CA
      (void)ReadRevocationList(input, pki.ca.cert_pem);
      (void)RevokedSerials(input, input);
      break;
    default:  // a CA pair whose certificate is the input
      PemKeyPair ca{input, pki.ca.key_pem.Clone()};
      (void)CheckCertificateAuthority(ca);
      break;
  }
}

}  // namespace
}  // namespace fedlearn

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data + 1),
                              size - 1);
  std::string input;
  if (selector & 0x80) {
    input =
        fedlearn::WrapPem(body, (selector & 0x40) ? "X509 CRL" : "CERTIFICATE");
    if (selector & 0x20) input += fedlearn::Pki().ca.cert_pem;
  } else {
    input = std::string(body);
  }
  fedlearn::Exercise(selector & 0x1f, input);
  fedlearn::QueueEmptyAfter("the selected entry point");
  return 0;
}
