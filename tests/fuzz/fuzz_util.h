// Helpers shared by the libFuzzer targets in this directory (see README.md):
// a per-process scratch file for decoders that only read paths, and a check
// that aborts (so libFuzzer records the input) when a decoder breaks its
// contract. Test-only; single-threaded like libFuzzer's driver.
#ifndef FEDLEARN_TESTS_FUZZ_FUZZ_UTIL_H_
#define FEDLEARN_TESTS_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace fedlearn::fuzz {

// Aborts with `what` when `condition` is false: a broken round-trip or
// contract is a finding, like a crash.
inline void FuzzCheck(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz check failed: %s\n", what);
    std::abort();
  }
}

// A file under $TMPDIR (default /tmp) unique to this process and `tag`,
// rewritten per input and removed at a normal exit. libFuzzer ends a timed
// run without running destructors, so run_fuzzers.sh gives each target its
// own TMPDIR and removes it afterwards.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& tag)
      : path_(TempDir() + "/fedlearn-fuzz-" + std::to_string(getpid()) + "-" +
              tag) {}
  ~ScratchFile() { std::remove(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  // Replaces the file's content with `bytes`; false if it cannot be written.
  bool Write(std::string_view bytes) const {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (f == nullptr) return false;
    const bool ok =
        std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    return std::fclose(f) == 0 && ok;
  }
  const std::string& path() const { return path_; }

 private:
  static std::string TempDir() {
    const char* dir = std::getenv("TMPDIR");
    return dir != nullptr && *dir != '\0' ? dir : "/tmp";
  }

  std::string path_;
};

}  // namespace fedlearn::fuzz

#endif  // FEDLEARN_TESTS_FUZZ_FUZZ_UTIL_H_
