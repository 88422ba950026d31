#include "common/util/atomic_file.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "atomic_file_test.XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> DirectoryEntries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
};

TEST_F(AtomicFileTest, WriteThenReadRoundTripsArbitraryBytes) {
  std::string contents = "line one\n";
  contents.push_back('\0');
  for (int i = 0; i < 200000; ++i)
    contents.push_back(static_cast<char>(i * 31));
  const std::string path = dir_ + "/blob";
  ASSERT_TRUE(WriteFileAtomically(path, contents).ok());
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, contents);
}

TEST_F(AtomicFileTest, EmptyContentsMakeAnEmptyFile) {
  const std::string path = dir_ + "/empty";
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "");
}

TEST_F(AtomicFileTest, OverwriteReplacesContentAndLeavesNoTemporaryFiles) {
  const std::string path = dir_ + "/checkpoint.json";
  ASSERT_TRUE(WriteFileAtomically(path, std::string(5000, 'a')).ok());
  ASSERT_TRUE(WriteFileAtomically(path, "short").ok());
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "short");
  EXPECT_THAT(DirectoryEntries(), ElementsAre("checkpoint.json"));
}

TEST_F(AtomicFileTest, FailedWriteLeavesNoTemporaryFileAndTheOldContent) {
  const std::string path = dir_ + "/target";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  // Renaming a file over a non-empty directory fails.
  const std::string blocked = dir_ + "/blocked";
  std::filesystem::create_directories(blocked + "/child");
  EXPECT_FALSE(WriteFileAtomically(blocked, "new").ok());
  EXPECT_THAT(DirectoryEntries(), ElementsAre("blocked", "target"));
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "old");
}

TEST_F(AtomicFileTest, WriteIntoMissingDirectoryIsNotFound) {
  EXPECT_EQ(WriteFileAtomically(dir_ + "/no/such/dir/file", "x").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(AtomicFileTest, AppendLineDurablyAppendsOneLineEachTime) {
  const std::string path = dir_ + "/metrics.jsonl";
  ASSERT_TRUE(AppendLineDurably(path, "{\"round\":1}").ok());
  ASSERT_TRUE(AppendLineDurably(path, "{\"round\":2}").ok());
  ASSERT_TRUE(AppendLineDurably(path, "").ok());
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "{\"round\":1}\n{\"round\":2}\n\n");
}

TEST_F(AtomicFileTest, AppendKeepsExistingContent) {
  const std::string path = dir_ + "/log";
  ASSERT_TRUE(WriteFileAtomically(path, "first\n").ok());
  ASSERT_TRUE(AppendLineDurably(path, "second").ok());
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "first\nsecond\n");
}

TEST_F(AtomicFileTest, ReadOfMissingFileIsNotFound) {
  absl::StatusOr<std::string> read = ReadFileToString(dir_ + "/absent");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(read.status().message()).find("absent"),
            std::string::npos);
}

TEST_F(AtomicFileTest, MakeDirectoriesCreatesNestedPathsAndIsIdempotent) {
  const std::string nested = dir_ + "/a/b/c";
  ASSERT_TRUE(MakeDirectories(nested).ok());
  EXPECT_TRUE(std::filesystem::is_directory(nested));
  EXPECT_TRUE(MakeDirectories(nested).ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/file", "x").ok());
  EXPECT_FALSE(MakeDirectories(dir_ + "/file/sub").ok());
}

}  // namespace
}  // namespace fedlearn
