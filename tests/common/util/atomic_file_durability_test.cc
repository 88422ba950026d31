// WriteFileAtomically's durability and atomicity, observed from outside:
// this binary interposes fsync(2) (fsync_recorder.h) to record which files
// and directories are synced, and checks that a replacement is a rename (an
// open reader keeps the old content) that leaves no temporary file behind,
// even on failure.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/util/fsync_recorder.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using testing_util::SyncedPaths;

class AtomicFileDurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "atomic_durability.XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = std::filesystem::canonical(pattern).string();
    SyncedPaths().clear();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
};

TEST_F(AtomicFileDurabilityTest, WriteFsyncsTheNewFileThenItsDirectory) {
  const std::string path = dir_ + "/server.key";
  ASSERT_TRUE(WriteFileAtomically(path, "secret", 0600).ok());
  const std::vector<std::string>& synced = SyncedPaths();
  ASSERT_EQ(synced.size(), 2u);
  // The temporary file, written beside the target, is synced before the
  // rename; the directory after it, so the rename itself survives a crash.
  EXPECT_EQ(std::filesystem::path(synced[0]).parent_path().string(), dir_);
  EXPECT_EQ(synced[0].rfind(path + ".tmp.", 0), 0u) << synced[0];
  EXPECT_EQ(synced[1], dir_);
}

TEST_F(AtomicFileDurabilityTest, ReplacementIsARenameSoOpenReadersKeepOld) {
  const std::string path = dir_ + "/ca.pem";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  const int reader = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(reader, 0);
  ASSERT_TRUE(WriteFileAtomically(path, "new contents").ok());
  char buf[16] = {0};
  EXPECT_EQ(::read(reader, buf, sizeof(buf)), 3);
  EXPECT_STREQ(buf, "old");  // never truncated or rewritten in place
  ::close(reader);
  EXPECT_EQ(*ReadFileToString(path), "new contents");
  EXPECT_THAT(Entries(), ElementsAre("ca.pem"));
}

TEST_F(AtomicFileDurabilityTest, FailedRenameLeavesNoTemporaryFile) {
  // Renaming a file over a non-empty directory fails after the data is
  // written and synced: the temporary file must still be removed.
  std::filesystem::create_directories(dir_ + "/target/child");
  EXPECT_FALSE(WriteFileAtomically(dir_ + "/target", "x", 0600).ok());
  EXPECT_THAT(Entries(), ElementsAre("target"));
}

TEST_F(AtomicFileDurabilityTest, KeyFileIsCreatedWithItsPrivateMode) {
  const std::string path = dir_ + "/client-001.key";
  ASSERT_TRUE(WriteFileAtomically(path, "k", 0600).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AtomicFileDurabilityTest, LeftoverTemporaryFileIsNeitherReusedNorLost) {
  // A crashed writer's temporary file (any name the pattern could produce)
  // must not be truncated or followed; it is simply skipped.
  const std::string path = dir_ + "/checkpoint.json";
  for (int i = 0; i < 4; ++i) {
    const std::string stale =
        path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(i);
    ASSERT_EQ(::symlink("/nonexistent/elsewhere", stale.c_str()), 0);
  }
  ASSERT_TRUE(WriteFileAtomically(path, "fresh").ok());
  EXPECT_EQ(*ReadFileToString(path), "fresh");
  EXPECT_EQ(Entries().size(), 5u);  // the four stale links, untouched
}

}  // namespace
}  // namespace fedlearn
