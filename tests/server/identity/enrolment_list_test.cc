// EnrolmentList: the run's list of admitted identities and its reloads.
#include "server/identity/enrolment_list.h"

#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::ScopedTempDir;

TEST(EnrolmentFileTest, ParsesIdsIgnoringCommentsBlanksAndWhitespace) {
  absl::StatusOr<std::set<std::string>> ids = ParseEnrolmentFile(
      "# sites of run 7\n  site-a \n\nsite-b # joined in May\r\n", "f");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre("site-a", "site-b"));
}

TEST(EnrolmentFileTest, ABadLineIsAnErrorNamingFileAndLine) {
  absl::StatusOr<std::set<std::string>> ids =
      ParseEnrolmentFile("site-a\nsite b\n", "clients.txt");
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ids.status().message(), HasSubstr("clients.txt:2"));
}

TEST(EnrolmentListTest, ConfigListAndFileBothEnrol) {
  ScopedTempDir dir;
  const std::string file = dir.path() + "/enrolled.txt";
  ASSERT_TRUE(WriteFileAtomically(file, "site-b\n").ok());
  IdentityConfig config;
  config.enrolled_clients = {"site-a"};
  config.enrolment_file = file;
  auto list = EnrolmentList::Create(config);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE((*list)->Contains("site-a"));
  EXPECT_TRUE((*list)->Contains("site-b"));
  EXPECT_FALSE((*list)->Contains("site-c"));
  EXPECT_FALSE((*list)->allows_any());
}

TEST(EnrolmentListTest, ReloadPicksUpAChangedFileAndKeepsTheOldOnError) {
  ScopedTempDir dir;
  const std::string file = dir.path() + "/enrolled.txt";
  ASSERT_TRUE(WriteFileAtomically(file, "site-a\n").ok());
  IdentityConfig config;
  config.enrolment_file = file;
  auto list = EnrolmentList::Create(config);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_FALSE(*(*list)->Reload(false));  // unchanged

  ASSERT_TRUE(WriteFileAtomically(file, "site-b\nsite-c\n").ok());
  EXPECT_TRUE(*(*list)->Reload(false));  // its size changed
  EXPECT_FALSE((*list)->Contains("site-a"));
  EXPECT_TRUE((*list)->Contains("site-c"));

  ASSERT_TRUE(WriteFileAtomically(file, "site-d\nnot valid!\n").ok());
  EXPECT_FALSE((*list)->Reload(false).ok());
  EXPECT_TRUE((*list)->Contains("site-c"));  // previous list in force
  EXPECT_FALSE((*list)->Contains("site-d"));
}

TEST(EnrolmentListTest, StartupRefusesAMissingFileOrBadConfigId) {
  ScopedTempDir dir;
  IdentityConfig config;
  config.enrolment_file = dir.path() + "/missing.txt";
  EXPECT_FALSE(EnrolmentList::Create(config).ok());
  IdentityConfig bad;
  bad.enrolled_clients = {"../etc"};
  EXPECT_EQ(EnrolmentList::Create(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EnrolmentListTest, DevelopmentOptOutAdmitsAnyone) {
  IdentityConfig config;
  config.allow_any_enrolled_by_ca = true;
  auto list = EnrolmentList::Create(config);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE((*list)->Contains("anyone"));
}

}  // namespace
}  // namespace fedlearn
