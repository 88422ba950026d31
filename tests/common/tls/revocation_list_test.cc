#include "common/tls/revocation_list.h"

#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "common/tls/cert_authority.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

PemKeyPair NewCa(const char* name = "test-ca") {
  absl::StatusOr<PemKeyPair> ca = CreateCertificateAuthority(name, 30);
  EXPECT_TRUE(ca.ok()) << ca.status();
  return *std::move(ca);
}

std::string SerialOf(const PemKeyPair& ca, const char* id) {
  absl::StatusOr<PemKeyPair> cert = IssueClientCertificate(ca, id, 30);
  EXPECT_TRUE(cert.ok()) << cert.status();
  absl::StatusOr<std::string> serial = SerialOfCertificate(cert->cert_pem);
  EXPECT_TRUE(serial.ok()) << serial.status();
  return *serial;
}

TEST(RevocationListTest, RoundTripsTheRevokedSerials) {
  PemKeyPair ca = NewCa();
  const std::string a = SerialOf(ca, "site-a");
  const std::string b = SerialOf(ca, "site-b");
  absl::StatusOr<std::string> crl = CreateRevocationList(
      ca, {{a, std::time(nullptr), "superseded"}, {b, 0, "lost laptop"}}, 7);
  ASSERT_TRUE(crl.ok()) << crl.status();
  EXPECT_THAT(*crl, HasSubstr("-----BEGIN X509 CRL-----"));
  absl::StatusOr<std::set<std::string>> serials =
      RevokedSerials(*crl, ca.cert_pem);
  ASSERT_TRUE(serials.ok()) << serials.status();
  EXPECT_EQ(*serials, (std::set<std::string>{a, b}));
}

TEST(RevocationListTest, KnownSerialsComeBackAsUppercaseHexWithoutZeros) {
  PemKeyPair ca = NewCa();
  absl::StatusOr<std::string> crl =
      CreateRevocationList(ca, {{"00abcdef01", 0, ""}, {"7", 0, ""}}, 1);
  ASSERT_TRUE(crl.ok()) << crl.status();
  absl::StatusOr<std::set<std::string>> serials =
      RevokedSerials(*crl, ca.cert_pem);
  ASSERT_TRUE(serials.ok()) << serials.status();
  EXPECT_THAT(*serials, ElementsAre("07", "ABCDEF01"));
}

TEST(RevocationListTest, AnEmptyListIsValid) {
  PemKeyPair ca = NewCa();
  absl::StatusOr<std::string> crl = CreateRevocationList(ca, {}, 30, 42);
  ASSERT_TRUE(crl.ok()) << crl.status();
  absl::StatusOr<RevocationListContents> contents =
      ReadRevocationList(*crl, ca.cert_pem);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_THAT(contents->revoked_serials, IsEmpty());
  EXPECT_EQ(contents->crl_number, 42);
  EXPECT_FALSE(contents->expired);
  const std::time_t now = std::time(nullptr);
  EXPECT_LE(contents->this_update, now);
  EXPECT_GT(contents->next_update, now + 29 * 86400);
}

TEST(RevocationListTest, SuccessiveListsNumberUpwards) {
  PemKeyPair ca = NewCa();
  absl::StatusOr<std::string> first = CreateRevocationList(ca, {}, 1);
  absl::StatusOr<std::string> second = CreateRevocationList(ca, {}, 1);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_LT(ReadRevocationList(*first, ca.cert_pem)->crl_number,
            ReadRevocationList(*second, ca.cert_pem)->crl_number);
}

TEST(RevocationListTest, RefusesAListSignedByAnotherCa) {
  PemKeyPair ca = NewCa();
  // Same subject name, different key: only the signature tells them apart.
  PemKeyPair impostor = NewCa();
  absl::StatusOr<std::string> crl =
      CreateRevocationList(impostor, {{"01", 0, ""}}, 7);
  ASSERT_TRUE(crl.ok()) << crl.status();
  absl::StatusOr<std::set<std::string>> serials =
      RevokedSerials(*crl, ca.cert_pem);
  EXPECT_EQ(serials.status().code(), absl::StatusCode::kUnauthenticated);
  PemKeyPair other = NewCa("other-ca");
  EXPECT_EQ(RevokedSerials(*crl, other.cert_pem).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(RevocationListTest, RefusesATamperedList) {
  PemKeyPair ca = NewCa();
  absl::StatusOr<std::string> crl =
      CreateRevocationList(ca, {{"0102030405", 0, ""}}, 7);
  ASSERT_TRUE(crl.ok());
  // Flip one base64 character inside the body (the signature or the TBS).
  std::string tampered = *crl;
  const size_t pos = tampered.find('\n', 30) + 40;
  tampered[pos] = tampered[pos] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(RevokedSerials(tampered, ca.cert_pem).ok());
}

TEST(RevocationListTest, RefusesUnparsablePem) {
  PemKeyPair ca = NewCa();
  EXPECT_EQ(RevokedSerials("not a crl", ca.cert_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A certificate is not a CRL.
  EXPECT_EQ(RevokedSerials(ca.cert_pem, ca.cert_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> crl = CreateRevocationList(ca, {}, 7);
  ASSERT_TRUE(crl.ok());
  EXPECT_EQ(RevokedSerials(*crl, "no ca here").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RevocationListTest, RefusesBadSerialsAndDuplicates) {
  PemKeyPair ca = NewCa();
  EXPECT_EQ(CreateRevocationList(ca, {{"xyz", 0, ""}}, 7).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateRevocationList(ca, {{"", 0, ""}}, 7).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateRevocationList(ca, {{std::string(41, 'A'), 0, ""}}, 7)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateRevocationList(ca, {{"ab", 0, ""}, {"AB", 0, ""}}, 7)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateRevocationList(ca, {}, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RevocationListTest, RefusesToSignWithALeafInsteadOfTheCa) {
  PemKeyPair ca = NewCa();
  absl::StatusOr<PemKeyPair> leaf = IssueClientCertificate(ca, "site-a", 30);
  ASSERT_TRUE(leaf.ok());
  EXPECT_FALSE(CreateRevocationList(*leaf, {}, 7).ok());
}

}  // namespace
}  // namespace fedlearn
