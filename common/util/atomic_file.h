// Crash-safe file replacement: write to a temporary file in the same
// directory, fsync it, rename it over the target, fsync the directory. After a
// crash the target holds either the old or the new content, never a mix.
#ifndef FEDLEARN_COMMON_UTIL_ATOMIC_FILE_H_
#define FEDLEARN_COMMON_UTIL_ATOMIC_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedlearn {

absl::Status WriteFileAtomically(const std::string& path,
                                 std::string_view contents);
// Appends one line (a trailing '\n' is added) and fsyncs.
absl::Status AppendLineDurably(const std::string& path, std::string_view line);
absl::StatusOr<std::string> ReadFileToString(const std::string& path);
// mkdir -p.
absl::Status MakeDirectories(const std::string& path);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_UTIL_ATOMIC_FILE_H_
