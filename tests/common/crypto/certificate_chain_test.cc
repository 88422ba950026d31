// The tree's one chain check (certificate_chain.h) against hand-built
// certificates: it accepts a leaf of the CA (also through an intermediate),
// and refuses another CA's leaf, a leaf or CA outside its validity period,
// a subject with two CNs, a CN that only starts with the expected one, and
// the wrong purpose.
#include "common/crypto/certificate_chain.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using crypto_internal::EvpPkeyPtr;
using crypto_internal::X509Ptr;

struct TestCert {
  X509Ptr cert;
  EvpPkeyPtr key;
  std::string pem;
};

struct Spec {
  std::vector<std::string> common_names = {"leaf"};
  long not_before_days = -1;
  long not_after_days = 30;
  bool is_ca = false;
  const char* extended_key_usage = "clientAuth";
};

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr) << value;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `spec`, signed by `issuer` (self-signed if null).
TestCert Make(const Spec& spec, const TestCert* issuer = nullptr) {
  static long serial = 1;
  TestCert out{X509Ptr(X509_new()), EvpPkeyPtr(EVP_EC_gen("P-256")), ""};
  X509* x = out.cert.get();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after_days * 86400);
  X509_NAME* name = X509_get_subject_name(x);
  for (const std::string& cn : spec.common_names) {
    X509_NAME_add_entry_by_txt(
        name, "CN", MBSTRING_UTF8,
        reinterpret_cast<const unsigned char*>(cn.data()),
        static_cast<int>(cn.size()), -1, 0);
  }
  X509* issuer_cert = issuer ? issuer->cert.get() : x;
  X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  X509_set_pubkey(x, out.key.get());
  AddExtension(x, issuer_cert, NID_basic_constraints,
               spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (spec.is_ca) {
    AddExtension(x, issuer_cert, NID_key_usage, "critical,keyCertSign");
  } else if (spec.extended_key_usage != nullptr) {
    AddExtension(x, issuer_cert, NID_ext_key_usage, spec.extended_key_usage);
  }
  X509_sign(x, issuer ? issuer->key.get() : out.key.get(), EVP_sha256());
  out.pem = *crypto_internal::CertificateToPem(x);
  return out;
}

TestCert MakeCa(const std::string& name = "ca") {
  Spec spec;
  spec.common_names = {name};
  spec.is_ca = true;
  return Make(spec);
}

ChainRequirements ClientNamed(std::string_view name) {
  ChainRequirements requirements;
  requirements.purpose = CertificatePurpose::kTlsClient;
  requirements.common_name = name;
  return requirements;
}

TEST(CertificateChainTest, AcceptsALeafOfTheCaWithTheExpectedName) {
  TestCert ca = MakeCa();
  TestCert leaf = Make(Spec(), &ca);
  EXPECT_TRUE(VerifyCertificateChain(ca.pem, leaf.pem).ok());
  EXPECT_TRUE(
      VerifyCertificateChain(ca.pem, leaf.pem, ClientNamed("leaf")).ok());
}

TEST(CertificateChainTest, RefusesALeafOfAnotherCa) {
  TestCert ca = MakeCa();
  TestCert other_ca = MakeCa();  // same subject name, different key
  TestCert leaf = Make(Spec(), &other_ca);
  ChainFailure failure;
  absl::Status status =
      VerifyCertificateChain(ca.pem, leaf.pem, ChainRequirements(), &failure);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
  EXPECT_TRUE(failure.NotIssuedByTrustedCa()) << failure.x509_error;
}

TEST(CertificateChainTest, RefusesASelfSignedLeaf) {
  TestCert ca = MakeCa();
  TestCert self_signed = Make(Spec());
  ChainFailure failure;
  EXPECT_EQ(VerifyCertificateChain(ca.pem, self_signed.pem, ChainRequirements(),
                                   &failure)
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(failure.NotIssuedByTrustedCa());
}

TEST(CertificateChainTest, RefusesAnExpiredLeaf) {
  TestCert ca = MakeCa();
  Spec spec;
  spec.not_before_days = -10;
  spec.not_after_days = -1;
  ChainFailure failure;
  EXPECT_EQ(VerifyCertificateChain(ca.pem, Make(spec, &ca).pem,
                                   ChainRequirements(), &failure)
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(failure.x509_error, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(failure.depth, 0);
}

TEST(CertificateChainTest, RefusesALeafThatIsNotYetValid) {
  TestCert ca = MakeCa();
  Spec spec;
  spec.not_before_days = 2;
  ChainFailure failure;
  EXPECT_FALSE(VerifyCertificateChain(ca.pem, Make(spec, &ca).pem,
                                      ChainRequirements(), &failure)
                   .ok());
  EXPECT_EQ(failure.x509_error, X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST(CertificateChainTest, RefusesALeafOfAnExpiredCa) {
  Spec ca_spec;
  ca_spec.common_names = {"ca"};
  ca_spec.is_ca = true;
  ca_spec.not_before_days = -10;
  ca_spec.not_after_days = -1;
  TestCert ca = Make(ca_spec);
  TestCert leaf = Make(Spec(), &ca);
  ChainFailure failure;
  EXPECT_EQ(
      VerifyCertificateChain(ca.pem, leaf.pem, ChainRequirements(), &failure)
          .code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(failure.x509_error, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(failure.depth, 1);
}

TEST(CertificateChainTest, RefusesASubjectWithTwoCommonNames) {
  TestCert ca = MakeCa();
  Spec spec;
  spec.common_names = {"leaf", "admin"};
  TestCert leaf = Make(spec, &ca);
  EXPECT_TRUE(VerifyCertificateChain(ca.pem, leaf.pem).ok());  // chain is fine
  for (const char* name : {"leaf", "admin"}) {
    absl::Status status =
        VerifyCertificateChain(ca.pem, leaf.pem, ClientNamed(name));
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << name;
  }
}

TEST(CertificateChainTest, ComparesTheCommonNameByLengthAndBytes) {
  TestCert ca = MakeCa();
  Spec spec;
  spec.common_names = {std::string("alice\0.evil", 11)};
  TestCert leaf = Make(spec, &ca);
  EXPECT_FALSE(
      VerifyCertificateChain(ca.pem, leaf.pem, ClientNamed("alice")).ok());
  EXPECT_FALSE(
      VerifyCertificateChain(ca.pem, Make(Spec(), &ca).pem, ClientNamed("lea"))
          .ok());
  EXPECT_FALSE(
      VerifyCertificateChain(ca.pem, Make(Spec(), &ca).pem, ClientNamed(""))
          .ok());
}

TEST(CertificateChainTest, RefusesAServerCertificateWhereAClientsIsRequired) {
  TestCert ca = MakeCa();
  Spec spec;
  spec.extended_key_usage = "serverAuth";
  TestCert server = Make(spec, &ca);
  EXPECT_TRUE(VerifyCertificateChain(ca.pem, server.pem).ok());
  EXPECT_EQ(
      VerifyCertificateChain(ca.pem, server.pem, ClientNamed("leaf")).code(),
      absl::StatusCode::kUnauthenticated);
}

TEST(CertificateChainTest, FollowsIntermediatesThatFollowTheLeaf) {
  TestCert root = MakeCa();
  Spec intermediate_spec;
  intermediate_spec.common_names = {"intermediate"};
  intermediate_spec.is_ca = true;
  TestCert intermediate = Make(intermediate_spec, &root);
  TestCert leaf = Make(Spec(), &intermediate);
  EXPECT_TRUE(
      VerifyCertificateChain(root.pem, leaf.pem + intermediate.pem).ok());
  // Without the intermediate there is no path; the intermediate alone is
  // not a trust anchor (no partial chains).
  EXPECT_FALSE(VerifyCertificateChain(root.pem, leaf.pem).ok());
  EXPECT_FALSE(VerifyCertificateChain(intermediate.pem, leaf.pem).ok());
}

TEST(CertificateChainTest, EveryCertificateInTheCaFileIsAnAnchor) {
  TestCert ca = MakeCa();
  // e.g. during a CA rollover. (These test CAs carry no key identifiers,
  // so OpenSSL finds an issuer by name alone: the names differ.)
  TestCert next_ca = MakeCa("next ca");
  const std::string bundle = ca.pem + next_ca.pem;
  EXPECT_TRUE(VerifyCertificateChain(bundle, Make(Spec(), &ca).pem).ok());
  EXPECT_TRUE(VerifyCertificateChain(bundle, Make(Spec(), &next_ca).pem).ok());
}

TEST(CertificateChainTest, GarbageIsUnauthenticatedNotACrash) {
  TestCert ca = MakeCa();
  for (const std::string& pem :
       {std::string(), std::string("garbage"),
        std::string("-----BEGIN CERTIFICATE-----\nAAAA\n"
                    "-----END CERTIFICATE-----\n")}) {
    EXPECT_EQ(VerifyCertificateChain(ca.pem, pem).code(),
              absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(VerifyCertificateChain(pem, ca.pem).code(),
              absl::StatusCode::kUnauthenticated);
  }
}

TEST(CertificateChainTest, OneTrustAnchorsServesManyChecks) {
  TestCert ca = MakeCa();
  absl::StatusOr<TrustAnchors> anchors = TrustAnchors::Create(ca.pem);
  ASSERT_TRUE(anchors.ok()) << anchors.status();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(anchors->Verify(Make(Spec(), &ca).pem).ok());
  }
  EXPECT_FALSE(anchors->Verify(Make(Spec(), nullptr).pem).ok());
}

// Known answer: a self-signed P-256 certificate made by Python's
// `cryptography` 38 (/usr/bin/python3), notBefore as UTCTime and notAfter as
// GeneralizedTime (a year >= 2050):
//   key = ec.derive_private_key(12345, ec.SECP256R1())
//   name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
//                                        "validity-kat")])
//   cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
//           .public_key(key.public_key()).serial_number(7)
//           .not_valid_before(datetime.datetime(2031, 5, 17, 8, 9, 10))
//           .not_valid_after(datetime.datetime(2052, 2, 29, 23, 59, 58))
//           .sign(key, hashes.SHA256()))
// and the Unix times of those instants in UTC: 1936771750, 2592863998.
constexpr char kValidityKatPem[] = R"(-----BEGIN CERTIFICATE-----
MIIBGzCBw6ADAgECAgEHMAoGCCqGSM49BAMCMBcxFTATBgNVBAMMDHZhbGlkaXR5
LWthdDAgFw0zMTA1MTcwODA5MTBaGA8yMDUyMDIyOTIzNTk1OFowFzEVMBMGA1UE
AwwMdmFsaWRpdHkta2F0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJu/OvQ7p
40pmkYfhizqRIrL3M5RbZJzJ+fkh6fna2BKQI4venMe7Mw0VDGdwTdJa5wVSBXRL
bzG/QHB0WHLQ5jAKBggqhkjOPQQDAgNHADBEAiA2ZUaLLzI7MvixvYxlZ97SYZIR
2DFSBo4pTySVM4xpdQIgHDKViuk3NxLv3KQpuB2wznwIM6QxdOYqwn+aGEhCMNE=
-----END CERTIFICATE-----
)";

TEST(ValidityPeriodOfTest, ReadsBothTimeEncodingsKnownAnswer) {
  absl::StatusOr<ValidityPeriod> period = ValidityPeriodOf(kValidityKatPem);
  ASSERT_TRUE(period.ok()) << period.status();
  EXPECT_EQ(absl::ToUnixSeconds(period->not_before), 1936771750);
  EXPECT_EQ(absl::ToUnixSeconds(period->not_after), 2592863998);
}

TEST(ValidityPeriodOfTest, ContainsBothEndsAndNothingOutside) {
  absl::StatusOr<ValidityPeriod> period = ValidityPeriodOf(kValidityKatPem);
  ASSERT_TRUE(period.ok()) << period.status();
  const absl::Time from = absl::FromUnixSeconds(1936771750);
  const absl::Time to = absl::FromUnixSeconds(2592863998);
  EXPECT_TRUE(period->Contains(from));
  EXPECT_TRUE(period->Contains(to));
  EXPECT_TRUE(period->Contains(from + (to - from) / 2));
  EXPECT_FALSE(period->Contains(from - absl::Seconds(1)));
  EXPECT_FALSE(period->Contains(to + absl::Seconds(1)));
}

TEST(ValidityPeriodOfTest, RefusesTextWithoutACertificate) {
  EXPECT_TRUE(
      absl::IsInvalidArgument(ValidityPeriodOf("no pem here").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidityPeriodOf("").status()));
}

}  // namespace
}  // namespace fedlearn
