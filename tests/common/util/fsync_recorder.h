// Test-only interposer of fsync(2): a binary that links fsync_recorder.cc
// records the path of every descriptor passed to fsync (then syncs it for
// real), so a test can check what was made durable. Libraries under test are
// linked statically, so their fsync calls bind to the interposer first.
// Not thread-safe: tests call it from one thread.
#ifndef FEDLEARN_TESTS_COMMON_UTIL_FSYNC_RECORDER_H_
#define FEDLEARN_TESTS_COMMON_UTIL_FSYNC_RECORDER_H_

#include <string>
#include <vector>

namespace fedlearn {
namespace testing_util {

// Paths of the descriptors passed to fsync since the last Clear, in order.
std::vector<std::string>& SyncedPaths();

}  // namespace testing_util
}  // namespace fedlearn

#endif  // FEDLEARN_TESTS_COMMON_UTIL_FSYNC_RECORDER_H_
