#include "tests/common/util/fsync_recorder.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdio>

namespace fedlearn {
namespace testing_util {

std::vector<std::string>& SyncedPaths() {
  static auto* paths = new std::vector<std::string>();
  return *paths;
}

}  // namespace testing_util
}  // namespace fedlearn

extern "C" int fsync(int fd) {
  char link[64];
  char target[PATH_MAX + 1] = {0};
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, PATH_MAX);
  fedlearn::testing_util::SyncedPaths().push_back(n > 0 ? std::string(target, n)
                                                        : "?");
  using Fsync = int (*)(int);
  static Fsync real = reinterpret_cast<Fsync>(dlsym(RTLD_NEXT, "fsync"));
  return real(fd);
}
