// SecAggIdentityCache (client/secagg/identity_cache.h): one load and one key
// parse per client identity; a hit shares the parsed key and hands out no
// PEM; another client id, a time outside the cached certificate's validity
// period, or a failed load goes back to the loader; the loaded identity must
// be the requested one; the shared key signs correctly on several threads.
#include "client/secagg/identity_cache.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/signature.h"
#include "common/tls/cert_authority.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

class SecAggIdentityCacheTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ca = CreateCertificateAuthority("identity-cache-test-ca", 30);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = new PemKeyPair(*std::move(ca));
    for (const char* id : {"site-a", "site-b"}) {
      auto leaf = IssueClientCertificate(*ca_, id, 30);
      ASSERT_TRUE(leaf.ok()) << leaf.status();
      leaves_.push_back(new PemKeyPair(*std::move(leaf)));
    }
  }

  // What LoadSecAggIdentity reads for leaf `i`, counting the calls.
  absl::StatusOr<SecAggIdentity> Load(int i) {
    ++file_reads_;
    return SecAggIdentity{i == 0 ? "site-a" : "site-b", leaves_[i]->cert_pem,
                          leaves_[i]->key_pem.Clone(), ca_->cert_pem, nullptr};
  }

  // OK iff `identity`'s key signs for certificate `i` (and not otherwise).
  static absl::Status SignsAs(const SecAggIdentity& identity, int i) {
    if (identity.signing_key == nullptr) {
      return absl::InternalError("no signing key");
    }
    absl::StatusOr<std::string> signature =
        identity.signing_key->Sign("message");
    if (!signature.ok()) return signature.status();
    return VerifySignedByIdentity(ca_->cert_pem, leaves_[i]->cert_pem,
                                  i == 0 ? "site-a" : "site-b",
                                  absl::StrCat("message"), *signature);
  }

  static absl::Time Now() { return absl::Now(); }

  static PemKeyPair* ca_;
  static std::vector<PemKeyPair*> leaves_;
  int file_reads_ = 0;
  SecAggIdentityCache cache_;
};

PemKeyPair* SecAggIdentityCacheTest::ca_ = nullptr;
std::vector<PemKeyPair*> SecAggIdentityCacheTest::leaves_;

TEST_F(SecAggIdentityCacheTest, SecondGetIsServedWithoutLoadingAgain) {
  auto first = cache_.Get("site-a", Now(), [&] { return Load(0); });
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = cache_.Get("site-a", Now(), [&] { return Load(0); });
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(file_reads_, 1);
  EXPECT_EQ(cache_.loads(), 1);
  // The key was parsed once and is shared; no PEM of it is handed out.
  EXPECT_EQ(first->signing_key.get(), second->signing_key.get());
  EXPECT_TRUE(second->key_pem.empty());
  EXPECT_EQ(second->client_id, "site-a");
  EXPECT_EQ(second->cert_pem, leaves_[0]->cert_pem);
  EXPECT_EQ(second->ca_pem, ca_->cert_pem);
  EXPECT_TRUE(SignsAs(*second, 0).ok());
  EXPECT_FALSE(SignsAs(*second, 1).ok());
}

TEST_F(SecAggIdentityCacheTest, AnotherClientIdIsLoadedNotServedFromTheCache) {
  ASSERT_TRUE(cache_.Get("site-a", Now(), [&] { return Load(0); }).ok());
  auto b = cache_.Get("site-b", Now(), [&] { return Load(1); });
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(file_reads_, 2);
  EXPECT_EQ(b->client_id, "site-b");
  EXPECT_EQ(b->cert_pem, leaves_[1]->cert_pem);
  EXPECT_TRUE(SignsAs(*b, 1).ok());
  EXPECT_FALSE(SignsAs(*b, 0).ok());
  // And back: site-a is loaded again, with its own key.
  auto a = cache_.Get("site-a", Now(), [&] { return Load(0); });
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(file_reads_, 3);
  EXPECT_TRUE(SignsAs(*a, 0).ok());
}

TEST_F(SecAggIdentityCacheTest, OutsideTheCertificatesValidityItLoadsAgain) {
  auto validity = ValidityPeriodOf(leaves_[0]->cert_pem);
  ASSERT_TRUE(validity.ok()) << validity.status();
  ASSERT_TRUE(cache_.Get("site-a", Now(), [&] { return Load(0); }).ok());
  // The last second of validity is still a hit.
  ASSERT_TRUE(
      cache_.Get("site-a", validity->not_after, [&] { return Load(0); }).ok());
  EXPECT_EQ(file_reads_, 1);
  // Past notAfter the loader decides (and reports the expiry in production).
  auto expired = cache_.Get("site-a", validity->not_after + absl::Seconds(1),
                            [&]() -> absl::StatusOr<SecAggIdentity> {
                              ++file_reads_;
                              return absl::FailedPreconditionError("expired");
                            });
  EXPECT_TRUE(absl::IsFailedPrecondition(expired.status()));
  EXPECT_EQ(file_reads_, 2);
  // Before notBefore too.
  ASSERT_TRUE(cache_.Get("site-a", Now(), [&] { return Load(0); }).ok());
  ASSERT_TRUE(cache_
                  .Get("site-a", validity->not_before - absl::Seconds(1),
                       [&] { return Load(0); })
                  .ok());
  EXPECT_EQ(file_reads_, 4);
}

TEST_F(SecAggIdentityCacheTest, AFailedLoadIsNotCached) {
  auto failed =
      cache_.Get("site-a", Now(), [&]() -> absl::StatusOr<SecAggIdentity> {
        ++file_reads_;
        return absl::NotFoundError("no such file");
      });
  EXPECT_TRUE(absl::IsNotFound(failed.status()));
  auto loaded = cache_.Get("site-a", Now(), [&] { return Load(0); });
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(file_reads_, 2);
  EXPECT_TRUE(SignsAs(*loaded, 0).ok());
}

TEST_F(SecAggIdentityCacheTest, RefusesAnIdentityLoadedForAnotherId) {
  auto wrong = cache_.Get("site-a", Now(), [&] { return Load(1); });
  EXPECT_TRUE(absl::IsInvalidArgument(wrong.status())) << wrong.status();
  // Nothing was cached: the right load goes through next time.
  ASSERT_TRUE(cache_.Get("site-a", Now(), [&] { return Load(0); }).ok());
  EXPECT_EQ(file_reads_, 2);
}

TEST_F(SecAggIdentityCacheTest, RefusesAKeyThatDoesNotParse) {
  auto broken = cache_.Get("site-a", Now(), [&] {
    return absl::StatusOr<SecAggIdentity>(SecAggIdentity{
        "site-a", leaves_[0]->cert_pem, SecretBytes::FromString("not a key"),
        ca_->cert_pem, nullptr});
  });
  EXPECT_FALSE(broken.ok());
  auto missing = cache_.Get("site-a", Now(), [&] {
    return absl::StatusOr<SecAggIdentity>(SecAggIdentity{
        "site-a", leaves_[0]->cert_pem, SecretBytes(), ca_->cert_pem, nullptr});
  });
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status()));
}

TEST_F(SecAggIdentityCacheTest, TheSharedKeySignsCorrectlyOnSeveralThreads) {
  auto identity = cache_.Get("site-a", Now(), [&] { return Load(0); });
  ASSERT_TRUE(identity.ok()) << identity.status();
  auto verifier =
      VerifiedIdentity::Create(ca_->cert_pem, leaves_[0]->cert_pem, "site-a");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  constexpr int kThreads = 4;
  constexpr int kSignaturesEach = 25;
  std::vector<std::vector<std::string>> signatures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const SecAggIdentity shared = ShareSecAggIdentity(*identity);
      for (int i = 0; i < kSignaturesEach; ++i) {
        auto s = shared.signing_key->Sign(absl::StrCat("m", t, "-", i));
        signatures[t].push_back(s.ok() ? *s : std::string());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(signatures[t].size(), kSignaturesEach);
    for (int i = 0; i < kSignaturesEach; ++i) {
      EXPECT_TRUE(
          verifier->Verify(absl::StrCat("m", t, "-", i), signatures[t][i]).ok())
          << t << " " << i;
    }
  }
}

}  // namespace
}  // namespace fedlearn
