// PeerCertificateInspector: which certificates name a client at all.
#include "server/identity/peer_certificate.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/identity/test_federation.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using testing_util::ScopedTempDir;
using testing_util::TestFederation;

class PeerCertificateTest : public ::testing::Test {
 protected:
  PeerCertificateTest() : federation_(dir_.path()) {}

  absl::StatusOr<PeerCertificate> Inspect(const std::string& pem) {
    auto inspector = PeerCertificateInspector::Create(federation_.ca_pem());
    EXPECT_TRUE(inspector.ok()) << inspector.status();
    return inspector->Inspect(pem);
  }

  ScopedTempDir dir_;
  TestFederation federation_;
};

TEST_F(PeerCertificateTest, SiteCertificateNamesItsClientRoleAndSerial) {
  const std::string pem = federation_.Issue("site-a");
  absl::StatusOr<PeerCertificate> peer = Inspect(pem);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->client_id, "site-a");
  EXPECT_EQ(peer->role, CertificateRole::kSite);
  EXPECT_EQ(peer->serial, *SerialOfCertificate(pem));
  EXPECT_GT(peer->not_after_unix, 0);
}

TEST_F(PeerCertificateTest, TwoCommonNamesAreRefused) {
  IssueOptions options;
  options.extra_common_names = {"site-b"};
  absl::StatusOr<PeerCertificate> peer =
      Inspect(federation_.Issue("site-a", options));
  EXPECT_EQ(peer.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(peer.status().message(), HasSubstr("exactly one common name"));
}

TEST_F(PeerCertificateTest, ServerAuthCertificateCannotStandInForASite) {
  IssueOptions options;
  options.omit_client_auth_eku = true;
  absl::StatusOr<PeerCertificate> peer =
      Inspect(federation_.Issue("site-a", options));
  EXPECT_EQ(peer.status().code(), absl::StatusCode::kUnauthenticated)
      << peer.status();
}

TEST_F(PeerCertificateTest,
       ExpiredNotYetValidAndForeignCertificatesAreRefused) {
  IssueOptions not_yet;
  not_yet.not_before_offset_days = 5;
  ScopedTempDir other_dir;
  TestFederation other(other_dir.path());
  for (const std::string& pem :
       {federation_.Issue("site-a", ExpiredIssueOptions()),
        federation_.Issue("site-b", not_yet), other.Issue("site-c")}) {
    EXPECT_EQ(Inspect(pem).status().code(), absl::StatusCode::kUnauthenticated);
  }
}

TEST_F(PeerCertificateTest, RolesAndLegacyCertificatesAreRead) {
  IssueOptions op;
  op.role = CertificateRole::kOperator;
  IssueOptions legacy;
  legacy.role = CertificateRole::kUnknown;
  EXPECT_EQ(Inspect(federation_.Issue("admin", op))->role,
            CertificateRole::kOperator);
  EXPECT_EQ(Inspect(federation_.Issue("old-site", legacy))->role,
            CertificateRole::kUnknown);
}

TEST_F(PeerCertificateTest, WithoutACaOnlyTheChainCheckIsSkipped) {
  auto inspector = PeerCertificateInspector::Create("");
  ASSERT_TRUE(inspector.ok());
  ScopedTempDir other_dir;
  TestFederation other(other_dir.path());
  EXPECT_TRUE(inspector->Inspect(other.Issue("site-a")).ok());
  IssueOptions two;
  two.extra_common_names = {"site-b"};
  EXPECT_FALSE(inspector->Inspect(other.Issue("site-a", two)).ok());
  EXPECT_FALSE(inspector->Inspect("not a certificate").ok());
}

}  // namespace
}  // namespace fedlearn
