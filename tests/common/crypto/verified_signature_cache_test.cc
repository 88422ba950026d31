// VerifiedSignatureCache behind VerifiedIdentity::Verify: a (certificate,
// message, signature) triple that verified is answered again without a
// second check, but only those exact bytes under that exact certificate,
// CA and identity; failures are never remembered.
#include <string>

#include "common/crypto/signature.h"
#include "common/crypto/verification_cache.h"
#include "common/tls/cert_authority.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

class VerifiedSignatureCacheTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ca = CreateCertificateAuthority("signature cache test CA", 2);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = new PemKeyPair(std::move(*ca));
    auto one = IssueClientCertificate(*ca_, "client-001", 2);
    auto two = IssueClientCertificate(*ca_, "client-002", 2);
    ASSERT_TRUE(one.ok() && two.ok());
    one_ = new PemKeyPair(std::move(*one));
    two_ = new PemKeyPair(std::move(*two));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete one_;
    delete two_;
  }
  void SetUp() override { VerifiedSignatureCache::Shared().Clear(); }
  void TearDown() override { VerifiedSignatureCache::Shared().Clear(); }

  static VerifiedIdentity IdentityOf(const PemKeyPair& pair,
                                     const std::string& name) {
    auto verifier = CertificateVerifier::Create(ca_->cert_pem);
    EXPECT_TRUE(verifier.ok());
    auto identity = verifier->Verify(pair.cert_pem, name);
    EXPECT_TRUE(identity.ok()) << identity.status();
    return *std::move(identity);
  }

  static PemKeyPair* ca_;
  static PemKeyPair* one_;
  static PemKeyPair* two_;
};

PemKeyPair* VerifiedSignatureCacheTest::ca_ = nullptr;
PemKeyPair* VerifiedSignatureCacheTest::one_ = nullptr;
PemKeyPair* VerifiedSignatureCacheTest::two_ = nullptr;

constexpr char kMessage[] = "advertise-keys|session 7|round 3|client-001";

TEST_F(VerifiedSignatureCacheTest,
       ASecondIdentityOfTheSameSignerIsAnsweredFromTheMemo) {
  auto signature = SignMessage(one_->key_pem.view(), kMessage);
  ASSERT_TRUE(signature.ok());
  VerifiedSignatureCache& cache = VerifiedSignatureCache::Shared();
  const uint64_t hits = cache.hits();  // Clear() keeps the count
  // Two neighbours of client-001, each with its own VerifiedIdentity.
  VerifiedIdentity first = IdentityOf(*one_, "client-001");
  VerifiedIdentity second = IdentityOf(*one_, "client-001");
  EXPECT_TRUE(first.Verify(kMessage, *signature).ok());
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.hits(), hits);
  EXPECT_TRUE(second.Verify(kMessage, *signature).ok());
  EXPECT_EQ(cache.hits(), hits + 1);
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(VerifiedSignatureCacheTest, AnyChangedByteIsCheckedAfreshAndRefused) {
  auto signature = SignMessage(one_->key_pem.view(), kMessage);
  ASSERT_TRUE(signature.ok());
  VerifiedIdentity identity = IdentityOf(*one_, "client-001");
  VerifiedSignatureCache& cache = VerifiedSignatureCache::Shared();
  const uint64_t hits = cache.hits();  // Clear() keeps the count
  ASSERT_TRUE(identity.Verify(kMessage, *signature).ok());
  std::string message = kMessage;
  message.back() = '2';
  EXPECT_EQ(identity.Verify(message, *signature).code(),
            absl::StatusCode::kUnauthenticated);
  std::string tampered = *signature;
  tampered[tampered.size() / 2] ^= 0x01;
  EXPECT_EQ(identity.Verify(kMessage, tampered).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(identity.Verify(kMessage, "").code(),
            absl::StatusCode::kUnauthenticated);
  // Refusals are not remembered; the good triple still is.
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.hits(), hits);
  EXPECT_TRUE(identity.Verify(kMessage, *signature).ok());
  EXPECT_EQ(cache.hits(), hits + 1);
}

TEST_F(VerifiedSignatureCacheTest,
       AMemoisedSignatureDoesNotVerifyUnderAnotherSigner) {
  auto signature = SignMessage(one_->key_pem.view(), kMessage);
  ASSERT_TRUE(signature.ok());
  ASSERT_TRUE(
      IdentityOf(*one_, "client-001").Verify(kMessage, *signature).ok());
  // client-002's key did not make it: the memo is per certificate.
  EXPECT_EQ(IdentityOf(*two_, "client-002").Verify(kMessage, *signature).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(VerifiedSignatureCacheTest, ARefusedTripleIsNeverInserted) {
  auto signature = SignMessage(two_->key_pem.view(), kMessage);
  ASSERT_TRUE(signature.ok());
  VerifiedIdentity identity = IdentityOf(*one_, "client-001");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(identity.Verify(kMessage, *signature).code(),
              absl::StatusCode::kUnauthenticated);
  }
  EXPECT_EQ(VerifiedSignatureCache::Shared().size(), 0u);
}

TEST(VerifiedSignatureCacheKeyTest, LengthPrefixesKeepShiftedInputsApart) {
  // The same concatenated bytes split differently are different triples.
  EXPECT_NE(VerifiedSignatureCache::Key("ab", "c", "d"),
            VerifiedSignatureCache::Key("a", "bc", "d"));
  EXPECT_NE(VerifiedSignatureCache::Key("a", "bc", "d"),
            VerifiedSignatureCache::Key("a", "b", "cd"));
  EXPECT_NE(VerifiedSignatureCache::Key("a", "b|1:c", ""),
            VerifiedSignatureCache::Key("a", "b", "c"));
  EXPECT_EQ(VerifiedSignatureCache::Key("a", "b", "c"),
            VerifiedSignatureCache::Key("a", "b", "c"));
  EXPECT_EQ(VerifiedSignatureCache::Key("a", "b", "c").size(), 64u);
}

}  // namespace
}  // namespace fedlearn
