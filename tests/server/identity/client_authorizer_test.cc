// ClientAuthorizer and IdentityReloader: roles, enrolment, revocation, the
// audit trail, and the sessions a reload ends.
#include "server/identity/client_authorizer.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/identity/identity_reloader.h"
#include "tests/server/identity/test_federation.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using testing_util::RecordingAuditSink;
using testing_util::ScopedTempDir;
using testing_util::TestFederation;

class ClientAuthorizerTest : public ::testing::Test {
 protected:
  ClientAuthorizerTest() : federation_(dir_.path()) {}

  std::unique_ptr<ClientAuthorizer> Make(IdentityConfig identity) {
    ClientAuthorizer::Options options;
    options.run_id = "run-7";
    options.identity = std::move(identity);
    options.ca_pem = federation_.ca_pem();
    options.audit = &audit_;
    auto authorizer = ClientAuthorizer::Create(std::move(options));
    EXPECT_TRUE(authorizer.ok()) << authorizer.status();
    return authorizer.ok() ? *std::move(authorizer) : nullptr;
  }
  static IdentityConfig Enrolled(std::vector<std::string> ids) {
    IdentityConfig identity;
    identity.enrolled_clients = std::move(ids);
    return identity;
  }
  static IssueOptions WithRole(CertificateRole role) {
    IssueOptions options;
    options.role = role;
    return options;
  }

  ScopedTempDir dir_;
  TestFederation federation_;
  RecordingAuditSink audit_;
};

TEST_F(ClientAuthorizerTest, EnrolledSiteIsAdmittedAndItsSerialRemembered) {
  auto authorizer = Make(Enrolled({"site-a"}));
  const std::string pem = federation_.Issue("site-a");
  absl::StatusOr<AuthorizedPeer> peer = authorizer->AuthorizeClient(pem);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->client_id, "site-a");
  EXPECT_EQ(authorizer->SerialInUse("site-a"), *SerialOfCertificate(pem));
  // The second call is served from the cache with the same verdict.
  EXPECT_TRUE(authorizer->AuthorizeClient(pem).ok());
  EXPECT_THAT(audit_.events(), IsEmpty());
}

TEST_F(ClientAuthorizerTest, UnenrolledIdentityIsRefusedAndAudited) {
  auto authorizer = Make(Enrolled({"site-a"}));
  absl::StatusOr<AuthorizedPeer> peer =
      authorizer->AuthorizeClient(federation_.Issue("site-x"));
  EXPECT_EQ(peer.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(peer.status().message(),
            "certificate CN 'site-x' is not enrolled for run 'run-7'");
  ASSERT_THAT(audit_.Named("refused"), SizeIs(1));
  EXPECT_EQ(audit_.Named("refused")[0].client_id, "site-x");
  EXPECT_EQ(authorizer->SerialInUse("site-x"), "");
}

TEST_F(ClientAuthorizerTest, OperatorCertificateIsForAdminCommandsOnly) {
  auto authorizer = Make(Enrolled({"admin", "site-a"}));
  const std::string op =
      federation_.Issue("admin", WithRole(CertificateRole::kOperator));
  absl::StatusOr<AuthorizedPeer> as_client = authorizer->AuthorizeClient(op);
  EXPECT_EQ(as_client.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(as_client.status().message(), HasSubstr("role 'operator'"));
  EXPECT_TRUE(authorizer->AuthorizeOperator(op).ok());
  EXPECT_EQ(authorizer->AuthorizeOperator(federation_.Issue("site-a"))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(ClientAuthorizerTest, LegacyCertificatesCountAsSitesUnlessRefused) {
  const std::string legacy =
      federation_.Issue("site-a", WithRole(CertificateRole::kUnknown));
  EXPECT_TRUE(Make(Enrolled({"site-a"}))->AuthorizeClient(legacy).ok());
  IdentityConfig strict = Enrolled({"site-a"});
  strict.accept_legacy_certificates = false;
  EXPECT_EQ(Make(strict)->AuthorizeClient(legacy).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(ClientAuthorizerTest, CertificateThatNamesNobodyIsUnauthenticated) {
  auto authorizer = Make(Enrolled({"site-a"}));
  IssueOptions two;
  two.extra_common_names = {"site-b"};
  EXPECT_EQ(authorizer->AuthorizeClient(federation_.Issue("site-a", two))
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(audit_.Named("refused"), SizeIs(1));
}

TEST_F(ClientAuthorizerTest, RevocationRefusesAndEvictsTheLiveIdentityOnce) {
  IdentityConfig identity = Enrolled({"site-a", "site-b"});
  identity.crl_file = federation_.Revoke({}, 1);
  auto authorizer = Make(identity);
  const std::string a = federation_.Issue("site-a");
  const std::string b = federation_.Issue("site-b");
  ASSERT_TRUE(authorizer->AuthorizeClient(a).ok());
  ASSERT_TRUE(authorizer->AuthorizeClient(b).ok());

  federation_.Revoke({*SerialOfCertificate(a)}, 2);
  std::vector<Eviction> evicted;
  IdentityReloader reloader(
      authorizer.get(), [&](const Eviction& e) { evicted.push_back(e); },
      std::chrono::seconds(60));
  RequestIdentityReload();  // as SIGHUP does
  reloader.PollOnce();
  ASSERT_THAT(evicted, SizeIs(1));
  EXPECT_EQ(evicted[0].client_id, "site-a");
  EXPECT_THAT(evicted[0].reason, HasSubstr("revoked"));
  ASSERT_THAT(audit_.Named("revoked"), SizeIs(1));
  EXPECT_EQ(audit_.Named("revoked")[0].details["serial"],
            *SerialOfCertificate(a));

  ASSERT_THAT(audit_.Named("revocation_list_changed"), SizeIs(1));
  EXPECT_EQ(audit_.Named("revocation_list_changed")[0].details,
            (nlohmann::json{{"revoked_serials", {*SerialOfCertificate(a)}},
                            {"unrevoked_serials", nlohmann::json::array()},
                            {"count", 1}}));

  EXPECT_THAT(reloader.PollOnce(), IsEmpty());  // named once
  absl::StatusOr<AuthorizedPeer> again = authorizer->AuthorizeClient(a);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(again.status().message(), HasSubstr("is revoked"));
  EXPECT_TRUE(authorizer->AuthorizeClient(b).ok());
}

TEST_F(ClientAuthorizerTest, ABadCrlIsRefusedAndTheOldOneKept) {
  IdentityConfig identity = Enrolled({"site-a"});
  const std::string a = federation_.Issue("site-a");
  identity.crl_file = federation_.Revoke({*SerialOfCertificate(a)}, 1);
  auto authorizer = Make(identity);
  ASSERT_TRUE(WriteFileAtomically(identity.crl_file, "not a crl").ok());
  EXPECT_THAT(authorizer->Reload(true), IsEmpty());
  EXPECT_THAT(audit_.Named("identity_reload_refused"), SizeIs(1));
  EXPECT_THAT(audit_.Named("revocation_list_changed"), IsEmpty());
  EXPECT_EQ(authorizer->AuthorizeClient(a).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(ClientAuthorizerTest, DroppingAnIdentityFromTheEnrolmentFileEvictsIt) {
  IdentityConfig identity;
  identity.enrolment_file = dir_.path() + "/enrolled.txt";
  ASSERT_TRUE(WriteFileAtomically(identity.enrolment_file, "site-a\n").ok());
  auto authorizer = Make(identity);
  ASSERT_TRUE(authorizer->AuthorizeClient(federation_.Issue("site-a")).ok());
  ASSERT_TRUE(WriteFileAtomically(identity.enrolment_file, "site-bb\n").ok());
  std::vector<Eviction> evicted = authorizer->Reload(false);
  ASSERT_THAT(evicted, SizeIs(1));
  EXPECT_THAT(evicted[0].reason, HasSubstr("no longer enrolled"));
  EXPECT_THAT(audit_.Named("evicted"), SizeIs(1));
  ASSERT_THAT(audit_.Named("enrolment_changed"), SizeIs(1));
  EXPECT_EQ(
      audit_.Named("enrolment_changed")[0].details,
      (nlohmann::json{
          {"added", {"site-bb"}}, {"removed", {"site-a"}}, {"count", 1}}));
  EXPECT_THAT(authorizer->Reload(true), IsEmpty());
  EXPECT_THAT(audit_.Named("enrolment_changed"), SizeIs(1));  // no change
}

TEST_F(ClientAuthorizerTest, WithNothingConfiguredNobodyIsAdmitted) {
  // The default [security] section fails closed.
  auto authorizer = Make(IdentityConfig{});
  EXPECT_EQ(
      authorizer->AuthorizeClient(federation_.Issue("site-a")).status().code(),
      absl::StatusCode::kPermissionDenied);
  IdentityConfig dev;
  dev.allow_any_enrolled_by_ca = true;
  EXPECT_TRUE(Make(dev)->AuthorizeClient(federation_.Issue("site-b")).ok());
}

}  // namespace
}  // namespace fedlearn
