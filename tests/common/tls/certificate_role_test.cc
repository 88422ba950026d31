// Roles, serials and the test-only IssueOptions of cert_authority.h.
#include <ctime>
#include <string>

#include "common/crypto/certificate_chain.h"
#include "common/tls/cert_authority.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::MatchesRegex;

PemKeyPair NewCa() {
  absl::StatusOr<PemKeyPair> ca = CreateCertificateAuthority("test-ca", 30);
  EXPECT_TRUE(ca.ok()) << ca.status();
  return *std::move(ca);
}

PemKeyPair Issue(const PemKeyPair& ca, const IssueOptions& options) {
  absl::StatusOr<PemKeyPair> cert =
      IssueClientCertificate(ca, "site-a", options);
  EXPECT_TRUE(cert.ok()) << cert.status();
  return *std::move(cert);
}

CertificateRole RoleOf(const std::string& pem) {
  absl::StatusOr<CertificateRole> role = RoleOfCertificate(pem);
  EXPECT_TRUE(role.ok()) << role.status();
  return role.value_or(CertificateRole::kUnknown);
}

TEST(CertificateRoleTest, EachRoleRoundTripsThroughTheSubjectOu) {
  PemKeyPair ca = NewCa();
  for (CertificateRole role :
       {CertificateRole::kSite, CertificateRole::kOperator,
        CertificateRole::kCoordinator}) {
    IssueOptions options;
    options.role = role;
    EXPECT_EQ(RoleOf(Issue(ca, options).cert_pem), role)
        << CertificateRoleName(role);
  }
}

TEST(CertificateRoleTest, DefaultsAreSiteForClientsCoordinatorForServer) {
  PemKeyPair ca = NewCa();
  absl::StatusOr<PemKeyPair> client = IssueClientCertificate(ca, "site-a", 30);
  absl::StatusOr<PemKeyPair> server = IssueServerCertificate(
      ca, "coordinator", {"localhost"}, {"127.0.0.1"}, 30);
  ASSERT_TRUE(client.ok() && server.ok());
  EXPECT_EQ(RoleOf(client->cert_pem), CertificateRole::kSite);
  EXPECT_EQ(RoleOf(server->cert_pem), CertificateRole::kCoordinator);
  // The CA itself has no role.
  EXPECT_EQ(RoleOf(ca.cert_pem), CertificateRole::kUnknown);
}

TEST(CertificateRoleTest, ACertificateWithoutOuIsUnknown) {
  PemKeyPair ca = NewCa();
  IssueOptions options;
  options.role = CertificateRole::kUnknown;
  EXPECT_EQ(RoleOf(Issue(ca, options).cert_pem), CertificateRole::kUnknown);
}

TEST(CertificateRoleTest, NamesRoundTripAndOtherTextIsUnknown) {
  EXPECT_EQ(CertificateRoleName(CertificateRole::kOperator), "operator");
  EXPECT_EQ(CertificateRoleFromName("coordinator"),
            CertificateRole::kCoordinator);
  EXPECT_EQ(CertificateRoleFromName("Site"), CertificateRole::kUnknown);
  EXPECT_EQ(CertificateRoleFromName("unknown"), CertificateRole::kUnknown);
  EXPECT_FALSE(RoleOfCertificate("garbage").ok());
}

TEST(CertificateRoleTest, SerialIsUppercaseHexOf128Bits) {
  PemKeyPair ca = NewCa();
  absl::StatusOr<std::string> serial =
      SerialOfCertificate(Issue(ca, IssueOptions{}).cert_pem);
  ASSERT_TRUE(serial.ok()) << serial.status();
  // BN_RAND_TOP_ONE: exactly 128 bits, so 32 digits with no leading zero.
  EXPECT_THAT(*serial, MatchesRegex("[89A-F][0-9A-F]{31}"));
  EXPECT_NE(*serial, *SerialOfCertificate(Issue(ca, IssueOptions{}).cert_pem));
}

TEST(CertificateRoleTest, NotAfterFollowsTheValidityAndOffset) {
  PemKeyPair ca = NewCa();
  IssueOptions options;
  options.valid_days = 10;
  const std::time_t now = std::time(nullptr);
  absl::StatusOr<std::time_t> not_after =
      NotAfterOfCertificate(Issue(ca, options).cert_pem);
  ASSERT_TRUE(not_after.ok()) << not_after.status();
  EXPECT_NEAR(static_cast<double>(*not_after - now), 10 * 86400.0, 60.0);
  absl::StatusOr<std::time_t> expired =
      NotAfterOfCertificate(Issue(ca, ExpiredIssueOptions()).cert_pem);
  ASSERT_TRUE(expired.ok());
  EXPECT_NEAR(static_cast<double>(*expired - now), -9 * 86400.0, 60.0);
}

TEST(CertificateRoleTest, ExpiredOptionsMakeACertificateTheChainCheckRefuses) {
  PemKeyPair ca = NewCa();
  PemKeyPair expired = Issue(ca, ExpiredIssueOptions());
  ChainFailure failure;
  EXPECT_FALSE(
      VerifyCertificateChain(ca.cert_pem, expired.cert_pem, {}, &failure).ok());
  EXPECT_EQ(failure.x509_error, X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST(CertificateRoleTest, PositiveOffsetMakesANotYetValidCertificate) {
  PemKeyPair ca = NewCa();
  IssueOptions options;
  options.not_before_offset_days = 2;
  ChainFailure failure;
  EXPECT_FALSE(VerifyCertificateChain(ca.cert_pem, Issue(ca, options).cert_pem,
                                      {}, &failure)
                   .ok());
  EXPECT_EQ(failure.x509_error, X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST(CertificateRoleTest, ExtraCommonNamesMakeASubjectTheChainCheckRefuses) {
  PemKeyPair ca = NewCa();
  IssueOptions options;
  options.extra_common_names = {"site-b"};
  PemKeyPair two_cn = Issue(ca, options);
  EXPECT_FALSE(CommonNameOfCertificate(two_cn.cert_pem).ok());
  ChainRequirements as_site_a;
  as_site_a.common_name = "site-a";
  EXPECT_FALSE(
      VerifyCertificateChain(ca.cert_pem, two_cn.cert_pem, as_site_a).ok());
}

TEST(CertificateRoleTest, ServerAuthOnlyIsRefusedAsATlsClient) {
  PemKeyPair ca = NewCa();
  IssueOptions options;
  options.omit_client_auth_eku = true;
  PemKeyPair wrong_usage = Issue(ca, options);
  ChainRequirements as_client;
  as_client.purpose = CertificatePurpose::kTlsClient;
  EXPECT_FALSE(
      VerifyCertificateChain(ca.cert_pem, wrong_usage.cert_pem, as_client)
          .ok());
  EXPECT_TRUE(VerifyCertificateChain(
                  ca.cert_pem, Issue(ca, IssueOptions{}).cert_pem, as_client)
                  .ok());
}

}  // namespace
}  // namespace fedlearn
