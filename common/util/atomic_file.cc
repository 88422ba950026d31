#include "common/util/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// The status for errno `err` while doing `what` to `path`.
absl::Status ErrnoStatus(std::string_view what, const std::string& path,
                         int err = errno) {
  std::string message =
      absl::StrCat(std::string(what), " ", path, ": ", DescribeErrno(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == ENOSPC || err == EDQUOT) {
    return absl::ResourceExhaustedError(message);
  }
  if (err == EACCES || err == EPERM) {
    return absl::PermissionDeniedError(message);
  }
  return absl::InternalError(message);
}

std::atomic<WriteSyscallForTesting> write_syscall{nullptr};

ssize_t Write(int fd, const void* buf, size_t n) {
  const WriteSyscallForTesting fn = write_syscall.load();
  return fn != nullptr ? fn(fd, buf, n) : ::write(fd, buf, n);
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = Write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncDirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", dir);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync directory", dir, err);
  return absl::OkStatus();
}

// Creates a temporary file beside `path` that did not exist before; sets
// `*tmp` to its name. O_EXCL|O_NOFOLLOW: a leftover of a crashed writer, or
// a symlink someone planted, is skipped rather than reused.
absl::StatusOr<int> CreateTemporary(const std::string& path, mode_t mode,
                                    std::string* tmp) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    *tmp = absl::StrCat(path, ".tmp.", ::getpid(), ".", counter++);
    const int fd =
        ::open(tmp->c_str(),
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) return fd;
    if (errno != EEXIST) return ErrnoStatus("create", *tmp);
  }
  return absl::AlreadyExistsError(
      absl::StrCat("cannot create a temporary file beside ", path,
                   ": 100 names taken; remove stale ", path, ".tmp.* files"));
}

// Reads `fd` to its end into `*out`, which is sized from fstat up front, so
// a file that does not grow meanwhile is read without any reallocation.
absl::Status ReadAll(int fd, const std::string& path, std::string* out) {
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    out->resize(static_cast<size_t>(st.st_size));
  }
  size_t done = 0;
  while (true) {
    char probe;  // At the expected end: one byte tells EOF from growth.
    const bool full = done == out->size();
    const ssize_t n = full ? ::read(fd, &probe, 1)
                           : ::read(fd, out->data() + done, out->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read", path);
    if (n == 0) break;
    if (full) {
      out->resize(out->size() + out->size() / 2 + 4096);
      (*out)[done] = probe;
    }
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  return absl::OkStatus();
}

}  // namespace

std::string DescribeErrno(int err) {
  const char* name = ::strerrorname_np(err);
  return absl::StrCat(std::strerror(err), " (", name != nullptr ? name : "?",
                      ", errno ", err, ")");
}

absl::Status WriteFileAtomically(const std::string& path,
                                 std::string_view contents, mode_t mode) {
  std::string tmp;
  ASSIGN_OR_RETURN(const int fd, CreateTemporary(path, mode, &tmp));
  absl::Status status = WriteAll(fd, contents, tmp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoStatus("fsync", tmp);
  if (::close(fd) != 0 && status.ok()) status = ErrnoStatus("close", tmp);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus("rename onto", path);
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  return FsyncDirectoryOf(path);
}

void SetWriteSyscallForTesting(WriteSyscallForTesting fn) {
  write_syscall.store(fn);
}

absl::Status AppendLineDurably(const std::string& path, std::string_view line) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("open for append", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus("stat", path, err);
  }
  const std::string bytes = std::string(line) + "\n";
  // One write(2): a line is never interleaved with another writer's, and
  // a short one (a full disk) is undone below, so the file ends on a
  // complete line whatever happens short of a crash.
  ssize_t n;
  do {
    n = Write(fd, bytes.data(), bytes.size());
  } while (n < 0 && errno == EINTR);
  absl::Status status;
  if (n < 0) {
    status = ErrnoStatus("append to", path);
  } else if (static_cast<size_t>(n) != bytes.size()) {
    status = absl::ResourceExhaustedError(
        absl::StrCat("append to ", path, ": only ", n, " of ", bytes.size(),
                     " bytes written (disk full?); the line was not added"));
  }
  if (!status.ok() && n > 0 && ::ftruncate(fd, st.st_size) != 0) {
    status = ErrnoStatus(
        absl::StrCat(status.message(), "; and truncating it back failed:"),
        path);
  }
  if (::fsync(fd) != 0 && status.ok()) status = ErrnoStatus("fsync", path);
  ::close(fd);
  return status;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path);
  std::string out;
  absl::Status status = ReadAll(fd, path, &out);
  ::close(fd);
  RETURN_IF_ERROR(status);
  return out;
}

absl::Status MakeDirectories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    const std::string message =
        absl::StrCat("cannot create directory ", path, ": ",
                     ec.category() == std::generic_category() ||
                             ec.category() == std::system_category()
                         ? DescribeErrno(ec.value())
                         : ec.message());
    if (ec.value() == EACCES || ec.value() == EPERM) {
      return absl::PermissionDeniedError(message);
    }
    if (ec.value() == ENOSPC || ec.value() == EDQUOT) {
      return absl::ResourceExhaustedError(message);
    }
    return absl::InternalError(message);
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
