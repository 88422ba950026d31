// A directory of a test's own under ::testing::TempDir() (which honours
// TEST_TMPDIR and TMPDIR), removed with everything in it when the object goes
// out of scope, also when an ASSERT returns early. Its name carries the test,
// the process id and a counter: ctest runs test cases as parallel processes.
// For fixtures that already keep a dir_ member, removing it in TearDown does
// the same job. kPreferRam puts it in /dev/shm when that is writable: for
// tests that fsync a lot and whose faults are emulated, not suffered.
#ifndef FEDLEARN_TESTS_TEST_UTIL_TEMP_DIR_H_
#define FEDLEARN_TESTS_TEST_UTIL_TEMP_DIR_H_

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace fedlearn::testing_util {

class ScopedTempDir {
 public:
  enum Where { kTestTmp, kPreferRam };
  explicit ScopedTempDir(Where where = kTestTmp) {
    static int counter = 0;
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    std::string test = info == nullptr ? std::string("fedlearn")
                                       : std::string(info->test_suite_name()) +
                                             "." + info->name();
    // Parameterized names hold '/': one directory level, not several.
    std::replace(test.begin(), test.end(), '/', '_');
    std::error_code ec;
    const bool ram = where == kPreferRam &&
                     std::filesystem::is_directory("/dev/shm", ec) &&
                     ::access("/dev/shm", W_OK) == 0;
    path_ = (std::filesystem::path(ram ? "/dev/shm" : ::testing::TempDir()) /
             (test + "." + std::to_string(::getpid()) + "." +
              std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name (not created).
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace fedlearn::testing_util

#endif  // FEDLEARN_TESTS_TEST_UTIL_TEMP_DIR_H_
