#include "server/audit/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// Where an existing log continues, and what Open cut off.
struct ResumePoint {
  AuditHead head;
  uint64_t valid_bytes = 0;
  uint64_t torn_bytes = 0;  // a torn final line to cut off (0: none)
  uint64_t torn_line = 0;
};

absl::Status Refuse(const std::string& path, uint64_t line,
                    const std::string& why) {
  const std::string where = line == 0
                                ? std::string(" is broken")
                                : absl::StrCat(" is broken at line ", line);
  return absl::FailedPreconditionError(absl::StrCat(
      "audit log ", path, where, ": ", why,
      "; refusing to extend it. Inspect it with `fedlearn-audit verify ", path,
      "`, then move it and its .head aside to start a new log"));
}

// Verifies the existing log at `path` against its head sidecar.
absl::StatusOr<ResumePoint> VerifyForAppend(
    const std::string& path, const std::optional<AuditHead>& sidecar,
    uint64_t file_size) {
  std::vector<uint64_t> seqs;
  if (sidecar.has_value()) seqs.push_back(sidecar->seq);
  ASSIGN_OR_RETURN(const AuditChainScan scan, ScanAuditChain(path, seqs));
  const std::string name = AuditHeadPath(path);
  ResumePoint resume{scan.head, scan.valid_bytes};
  uint64_t line = 0;
  if (scan.torn_tail && sidecar.has_value() &&
      CheckAuditHead(scan, *sidecar, name, /*max_lag=*/0, &line).empty()) {
    // The sidecar never acknowledged the torn line: a crash mid-write.
    resume.torn_bytes = file_size - scan.valid_bytes;
    resume.torn_line = scan.first_bad_line;
    return resume;
  }
  if (!scan.problem.empty()) {
    return Refuse(path, scan.first_bad_line, scan.problem);
  }
  if (!sidecar.has_value()) {
    if (scan.entries == 0) return resume;
    return Refuse(path, 0,
                  absl::StrCat(name,
                               " is missing, so a truncated tail "
                               "could not be detected"));
  }
  if (std::string why = CheckAuditHead(scan, *sidecar, name, 1, &line);
      !why.empty()) {
    return Refuse(path, line, why);
  }
  if (sidecar->seq < scan.entries) {
    spdlog::warn(
        "audit log {}: {} is one entry behind (a crash between the "
        "two writes); bringing it up to date",
        path, name);
    RETURN_IF_ERROR(WriteAuditHead(path, scan.head));
  }
  return resume;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    const std::string& path, const Clock* clock) {
  absl::StatusOr<std::optional<AuditHead>> sidecar = ReadAuditHead(path);
  if (absl::IsDataLoss(sidecar.status())) {
    return Refuse(path, 0, std::string(sidecar.status().message()));
  }
  RETURN_IF_ERROR(sidecar.status());
  struct stat st {};
  ResumePoint resume;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot stat audit log ", path, ": ", strerror(errno)));
    }
    if (sidecar->has_value() && (*sidecar)->seq > 0) {
      return Refuse(path, 0,
                    absl::StrCat("the log is missing but ", AuditHeadPath(path),
                                 " says it held ", (*sidecar)->seq,
                                 " entries (deleted or moved?)"));
    }
    RETURN_IF_ERROR(WriteAuditHead(path, AuditHead{}));
  } else {
    ASSIGN_OR_RETURN(
        resume,
        VerifyForAppend(path, *sidecar, static_cast<uint64_t>(st.st_size)));
  }
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open audit log ", path, ": ", strerror(errno)));
  }
  std::unique_ptr<AuditLog> log(new AuditLog(path, fd, clock, resume.head));
  log->size_ = resume.valid_bytes;
  if (resume.torn_bytes > 0) {
    if (::ftruncate(fd, static_cast<off_t>(resume.valid_bytes)) != 0 ||
        ::fdatasync(fd) != 0) {
      return absl::DataLossError(
          absl::StrCat("cannot cut the torn final line of audit log ", path,
                       ": ", strerror(errno)));
    }
    spdlog::warn(
        "audit log {}: cut off its torn final line {} ({} bytes, "
        "never acknowledged: a crash during the write)",
        path, resume.torn_line, resume.torn_bytes);
    log->Record(AuditEvent{"audit_log_repaired",
                           "",
                           {{"torn_line", resume.torn_line},
                            {"dropped_bytes", resume.torn_bytes}}});
    RETURN_IF_ERROR(log->status());
  }
  const AuditHead head = log->head();
  spdlog::info("audit log {}: {} entries, head {}:{}", path, head.seq, head.seq,
               head.hash);
  return log;
}

AuditLog::AuditLog(std::string path, int fd, const Clock* clock, AuditHead head)
    : path_(std::move(path)),
      fd_(fd),
      clock_(clock != nullptr ? clock : &system_clock_),
      head_(std::move(head)) {}

AuditLog::~AuditLog() { ::close(fd_); }

absl::Status AuditLog::AppendLocked(const std::string& line) {
  std::string data = line;
  data.push_back('\n');
  const char* p = data.data();
  size_t left = data.size();
  int error = 0;
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : EIO;
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (error == 0 && ::fdatasync(fd_) != 0) error = errno;
  if (error == 0) {
    size_ += data.size();
    return absl::OkStatus();
  }
  // Cut a partial line off again, so the file stays a valid chain.
  if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    spdlog::critical("audit log {}: cannot cut off a partial line: {}", path_,
                     strerror(errno));
  }
  return absl::DataLossError(absl::StrCat("cannot append to audit log ", path_,
                                          ": ", strerror(error)));
}

void AuditLog::Record(const AuditEvent& event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!status_.ok()) {
    spdlog::error("audit log {} is unusable; event '{}' was NOT recorded",
                  path_, event.event);
    return;
  }
  std::string hash;
  const std::string line = MakeAuditLine(head_.seq + 1, clock_->UnixMillis(),
                                         event, head_.hash, &hash);
  absl::Status s = AppendLocked(line);
  if (s.ok()) {
    head_ = AuditHead{head_.seq + 1, std::move(hash)};
    s = WriteAuditHead(path_, head_);
  }
  if (!s.ok()) {
    status_ = s;
    spdlog::critical(
        "audit log {} cannot be written ({}): event '{}' may be lost; no "
        "further events are written and no round will be released",
        path_, s.message(), event.event);
  }
}

bool AuditLog::healthy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_.ok();
}

absl::Status AuditLog::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

AuditHead AuditLog::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_;
}

}  // namespace fedlearn
