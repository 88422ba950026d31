// The coordinator's append-only audit trail: an AuditSink that appends each
// event as one hash-chained JSON line (format: audit_chain.h) and makes it
// durable (fdatasync) before Record returns, then replaces the head sidecar
// (<path>.head) atomically.
//
// Open() creates a new log with mode 0600, or verifies an existing one from
// its first line and continues from its head. It refuses a log whose chain
// is broken or does not end at its head sidecar (naming the first bad
// line), so tampering is never silently extended; the operator inspects it
// with `fedlearn-audit verify` and moves it aside. One exception, logged
// loudly and recorded as an "audit_log_repaired" entry: a final line
// without its newline that the sidecar never acknowledged, which only a
// crash during the write leaves; it is cut off.
//
// Failure policy: fail closed at the release boundary. A write that fails
// (disk full, I/O error) is logged at critical level, the partial line is
// cut off again, and the log turns unhealthy for good: later events are
// not written (each one logged as lost) and status() says why. The
// AuditingRoundListener then refuses to release a round, which fails the
// run: no model leaves the coordinator without its audit record. Joins and
// refusals still answer clients meanwhile (the service cannot wait on a
// disk), but the run ends at the next release at the latest.
//
// Thread-safety: Record, healthy, status and head may be called from any
// thread; one mutex serialises the appends. One process per log: two
// processes appending to the same file would interleave their chains.
#ifndef FEDLEARN_SERVER_AUDIT_AUDIT_LOG_H_
#define FEDLEARN_SERVER_AUDIT_AUDIT_LOG_H_

#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/util/clock.h"
#include "server/audit/audit_chain.h"
#include "server/audit/audit_sink.h"

namespace fedlearn {

class AuditLog final : public AuditSink {
 public:
  // `clock` (wall time of the entries) may be null: the system clock. It
  // must outlive the log. FailedPrecondition if the existing log is broken
  // or disagrees with its head sidecar (also when the log is missing but
  // the sidecar says it held entries: it was deleted).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      const std::string& path, const Clock* clock = nullptr);

  ~AuditLog() override;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends `event`; durable on return if healthy() stays true.
  void Record(const AuditEvent& event) override;

  // False once a write failed; then status() says why.
  bool healthy() const;
  absl::Status status() const override;
  // The latest entry written.
  AuditHead head() const;
  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, int fd, const Clock* clock, AuditHead head);
  // Writes `line` + '\n' and fdatasyncs; on failure cuts the file back.
  absl::Status AppendLocked(const std::string& line)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const int fd_;
  SystemClock system_clock_;
  const Clock* const clock_;

  mutable std::mutex mu_;
  AuditHead head_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;  // bytes of complete lines
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_AUDIT_AUDIT_LOG_H_
