// CrlFile: only a CRL signed by the CA replaces the revoked serials.
#include "server/identity/crl_file.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/identity/test_federation.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::ScopedTempDir;
using testing_util::TestFederation;

class CrlFileTest : public ::testing::Test {
 protected:
  CrlFileTest() : federation_(dir_.path()) {}
  ScopedTempDir dir_;
  TestFederation federation_;
};

TEST_F(CrlFileTest, NoFileRevokesNothing) {
  auto crl = CrlFile::Create("", federation_.ca_pem());
  ASSERT_TRUE(crl.ok());
  EXPECT_FALSE((*crl)->IsRevoked("01"));
  EXPECT_FALSE(*(*crl)->Reload(true));
}

TEST_F(CrlFileTest, LoadsAndReloadsTheCasList) {
  const std::string path = federation_.Revoke({"0A1B"}, 1);
  auto crl = CrlFile::Create(path, federation_.ca_pem());
  ASSERT_TRUE(crl.ok()) << crl.status();
  EXPECT_TRUE((*crl)->IsRevoked("0A1B"));
  federation_.Revoke({"0A1B", "C2D3"}, 2);
  EXPECT_TRUE(*(*crl)->Reload(false));  // the file grew
  EXPECT_THAT((*crl)->revoked(), ElementsAre("0A1B", "C2D3"));
}

TEST_F(CrlFileTest, ACrlFromAnotherCaIsRefusedAndThePreviousKept) {
  const std::string path = federation_.Revoke({"0A1B"}, 1);
  auto crl = CrlFile::Create(path, federation_.ca_pem());
  ASSERT_TRUE(crl.ok()) << crl.status();
  ScopedTempDir other_dir;
  TestFederation other(other_dir.path());
  ASSERT_TRUE(
      WriteFileAtomically(path, *ReadFileToString(other.Revoke({"FFFF"}, 9)))
          .ok());
  absl::StatusOr<bool> reloaded = (*crl)->Reload(true);
  EXPECT_FALSE(reloaded.ok());
  EXPECT_THAT(reloaded.status().message(),
              HasSubstr("previous revocation list stays in force"));
  EXPECT_THAT((*crl)->revoked(), ElementsAre("0A1B"));
  ASSERT_TRUE(WriteFileAtomically(path, "garbage").ok());
  EXPECT_FALSE((*crl)->Reload(true).ok());
  EXPECT_TRUE((*crl)->IsRevoked("0A1B"));
}

TEST_F(CrlFileTest, StartupRefusesAnUnverifiableCrl) {
  ScopedTempDir other_dir;
  TestFederation other(other_dir.path());
  EXPECT_FALSE(
      CrlFile::Create(other.Revoke({"0A1B"}), federation_.ca_pem()).ok());
  EXPECT_FALSE(
      CrlFile::Create(dir_.path() + "/missing.pem", federation_.ca_pem()).ok());
}

}  // namespace
}  // namespace fedlearn
