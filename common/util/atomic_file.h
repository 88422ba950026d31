// Crash-safe file replacement and whole-file reads: the tree's one way to
// write a file that must never be seen half-written.
//
// WriteFileAtomically writes a fresh temporary file in the same directory
// (created exclusively, so an existing file or symlink of that name is
// never followed or truncated), fsyncs it, renames it over the target and
// fsyncs the directory, so after a crash the target holds either the old or
// the new content, never a mix, and the rename itself is durable. On any
// failure the temporary file is removed and the target is untouched.
// The temporary file is created with its final permissions, so a private key
// written with 0600 is never readable by others, not even briefly.
// Thread-safe: concurrent writers (threads or processes) use distinct
// temporary files; the last rename wins.
#ifndef FEDLEARN_COMMON_UTIL_ATOMIC_FILE_H_
#define FEDLEARN_COMMON_UTIL_ATOMIC_FILE_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedlearn {

// Replaces `path` with `contents` (see above). The new file's permission
// bits are `mode` less the process umask, as open(2) gives them. NotFound if
// the directory does not exist, PermissionDenied if it is not writable.
absl::Status WriteFileAtomically(const std::string& path,
                                 std::string_view contents, mode_t mode = 0644);
// Appends one line (a trailing '\n' is added) in a single write(2) and
// fsyncs. All or nothing: on a failed or short write (a full disk) the file
// is truncated back to its previous size, so no torn line is left behind,
// and the error names `path`.
absl::Status AppendLineDurably(const std::string& path, std::string_view line);
// The whole file. It is read straight into the returned string, sized from
// fstat, with no intermediate buffer, so a caller reading a key has exactly
// one copy to wipe (unless the file grows while being read).
absl::StatusOr<std::string> ReadFileToString(const std::string& path);
// mkdir -p. The error names `path` and the errno (DescribeErrno);
// PermissionDenied / ResourceExhausted as above, else Internal.
absl::Status MakeDirectories(const std::string& path);
// "No space left on device (ENOSPC, errno 28)": strerror, the symbolic name
// and the number, so an operator can search for it. Every error of this
// file names the path and ends so.
std::string DescribeErrno(int err);

// Testing seam: the write(2) every function above calls (nullptr restores
// ::write), so a test can make a write fail or come up short as on a full
// disk. Process-wide; set it only in tests, while no other thread writes.
using WriteSyscallForTesting = ssize_t (*)(int fd, const void* buf, size_t n);
void SetWriteSyscallForTesting(WriteSyscallForTesting fn);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_UTIL_ATOMIC_FILE_H_
