// A gtest fixture owning a fresh directory per test, removed in TearDown, for
// tests that write data files.
#ifndef FEDLEARN_TESTS_COMMON_DATA_SCRATCH_DIR_H_
#define FEDLEARN_TESTS_COMMON_DATA_SCRATCH_DIR_H_

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace fedlearn {

class ScratchDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           (std::string(info->test_suite_name()) + "." + info->name() + "." +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Writes `bytes` verbatim (binary: CRLF stays CRLF) to `name` in the
  // scratch directory and returns its path.
  std::string Write(const std::string& bytes,
                    const std::string& name = "data.csv") {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  std::filesystem::path dir_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_TESTS_COMMON_DATA_SCRATCH_DIR_H_
