// The process-wide memo behind CertificateVerifier: a certificate passes the
// full check once and is then served from the cache, but only for the same
// CA, certificate bytes and identity, and only inside its validity window.
#include "common/crypto/verification_cache.h"

#include <ctime>
#include <string>

#include "common/crypto/signature.h"
#include "common/tls/cert_authority.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

class VerificationCacheTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ca = CreateCertificateAuthority("cache test CA", 2);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = new PemKeyPair(std::move(*ca));
    auto client = IssueClientCertificate(*ca_, "client-001", 2);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = new PemKeyPair(std::move(*client));
    auto other = CreateCertificateAuthority("another CA", 2);
    ASSERT_TRUE(other.ok());
    other_ca_ = new PemKeyPair(std::move(*other));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete client_;
    delete other_ca_;
  }
  void SetUp() override { VerifiedKeyCache::Shared().Clear(); }
  void TearDown() override { VerifiedKeyCache::Shared().Clear(); }

  static PemKeyPair* ca_;
  static PemKeyPair* client_;
  static PemKeyPair* other_ca_;
};

PemKeyPair* VerificationCacheTest::ca_ = nullptr;
PemKeyPair* VerificationCacheTest::client_ = nullptr;
PemKeyPair* VerificationCacheTest::other_ca_ = nullptr;

constexpr char kMessage[] = "advertise-keys|session 1|round 2";

TEST_F(VerificationCacheTest,
       ASecondCheckIsServedFromTheCacheAndStillVerifies) {
  auto verifier = CertificateVerifier::Create(ca_->cert_pem);
  ASSERT_TRUE(verifier.ok());
  auto signature = SignMessage(client_->key_pem.view(), kMessage);
  ASSERT_TRUE(signature.ok());
  const uint64_t hits = VerifiedKeyCache::Shared().hits();
  auto first = verifier->Verify(client_->cert_pem, "client-001");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(VerifiedKeyCache::Shared().size(), 1u);
  EXPECT_EQ(VerifiedKeyCache::Shared().hits(), hits);
  auto second = verifier->Verify(client_->cert_pem, "client-001");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(VerifiedKeyCache::Shared().hits(), hits + 1);
  EXPECT_EQ(second->identity(), "client-001");
  EXPECT_TRUE(second->Verify(kMessage, *signature).ok());
  EXPECT_FALSE(second->Verify("another message", *signature).ok());
}

TEST_F(VerificationCacheTest,
       ACachedCertificateIsStillRefusedForAnotherIdentity) {
  auto verifier = CertificateVerifier::Create(ca_->cert_pem);
  ASSERT_TRUE(verifier.ok());
  ASSERT_TRUE(verifier->Verify(client_->cert_pem, "client-001").ok());
  EXPECT_EQ(verifier->Verify(client_->cert_pem, "client-002").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(VerificationCacheTest, ACachedCertificateIsStillRefusedUnderAnotherCa) {
  auto ours = CertificateVerifier::Create(ca_->cert_pem);
  auto theirs = CertificateVerifier::Create(other_ca_->cert_pem);
  ASSERT_TRUE(ours.ok() && theirs.ok());
  ASSERT_TRUE(ours->Verify(client_->cert_pem, "client-001").ok());
  EXPECT_EQ(theirs->Verify(client_->cert_pem, "client-001").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(VerificationCacheTest, AChangedCertificateByteIsCheckedAfresh) {
  auto verifier = CertificateVerifier::Create(ca_->cert_pem);
  ASSERT_TRUE(verifier.ok());
  ASSERT_TRUE(verifier->Verify(client_->cert_pem, "client-001").ok());
  std::string tampered = client_->cert_pem;
  const size_t at = tampered.find('\n', 40) + 10;  // inside the base64 body
  tampered[at] = tampered[at] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifier->Verify(tampered, "client-001").ok());
}

TEST_F(VerificationCacheTest, AnEntryIsServedOnlyInsideItsWindow) {
  auto verifier = CertificateVerifier::Create(ca_->cert_pem);
  ASSERT_TRUE(verifier.ok());
  auto identity = verifier->Verify(client_->cert_pem, "client-001");
  ASSERT_TRUE(identity.ok());
  auto anchors = SharedAnchors(ca_->cert_pem);
  ASSERT_TRUE(anchors.ok());
  const std::string key =
      VerifiedKeyCache::Key(**anchors, client_->cert_pem, "client-001");
  VerifiedKeyCache& cache = VerifiedKeyCache::Shared();
  const std::time_t now = std::time(nullptr);
  EXPECT_NE(cache.Find(key, now), nullptr);
  // The certificates were issued for 2 days.
  EXPECT_EQ(cache.Find(key, now + 3 * 86400), nullptr);
  EXPECT_EQ(cache.Find(key, now - 86400), nullptr);
  EXPECT_EQ(cache.Find("no such key", now), nullptr);
}

TEST(ValidityWindowTest, IntersectionAndContainment) {
  const ValidityWindow a{10, 100}, b{50, 200};
  const ValidityWindow both = a.Intersect(b);
  EXPECT_EQ(both.not_before, 50);
  EXPECT_EQ(both.not_after, 100);
  EXPECT_TRUE(both.Contains(50));
  EXPECT_TRUE(both.Contains(100));
  EXPECT_FALSE(both.Contains(49));
  EXPECT_FALSE(both.Contains(101));
  EXPECT_FALSE(a.Intersect(ValidityWindow{200, 300}).Contains(150));
}

}  // namespace
}  // namespace fedlearn
