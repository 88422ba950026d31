// The identities enrolled for one run: the config's `enrolled_clients` plus
// the lines of an optional enrolment file, or everyone the CA issued when the
// development opt-out `allow_any_enrolled_by_ca` is set.
//
// Guarantees: every listed id passes ValidateClientId (a bad line is an
// error naming the file and line, never silently skipped); a reload that
// fails keeps the previous list and says why; the file's lines are trimmed,
// empty lines and '#' comments ignored. Reload() re-reads the file only when
// its modification time or size changed, or when forced.
// Thread-safety: thread-safe (one internal mutex).
#ifndef FEDLEARN_SERVER_IDENTITY_ENROLMENT_LIST_H_
#define FEDLEARN_SERVER_IDENTITY_ENROLMENT_LIST_H_

#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "server/identity/identity_config.h"

namespace fedlearn {

// The ids of an enrolment file's text (see above); `origin` names it in
// errors.
absl::StatusOr<std::set<std::string>> ParseEnrolmentFile(
    const std::string& text, const std::string& origin);

class EnrolmentList {
 public:
  // Reads the file once; an unreadable or invalid file is an error.
  static absl::StatusOr<std::unique_ptr<EnrolmentList>> Create(
      const IdentityConfig& config);

  bool allows_any() const { return allow_any_; }
  bool Contains(const std::string& client_id) const;
  // Re-reads the enrolment file if it changed (or `force`). Returns whether
  // the list changed; an error if the new file is unusable (the previous
  // list stays in force).
  absl::StatusOr<bool> Reload(bool force);
  size_t size() const;
  // Every enrolled id (configuration and file), sorted.
  std::set<std::string> ids() const;

 private:
  EnrolmentList(std::set<std::string> from_config, std::string file,
                bool allow_any)
      : from_config_(std::move(from_config)),
        file_(std::move(file)),
        allow_any_(allow_any) {}

  const std::set<std::string> from_config_;
  const std::string file_;
  const bool allow_any_;
  mutable std::mutex mu_;
  std::set<std::string> from_file_ ABSL_GUARDED_BY(mu_);
  // (mtime ns, size) of the file when last read.
  std::pair<int64_t, int64_t> file_stamp_ ABSL_GUARDED_BY(mu_){-1, -1};
};

// (mtime in ns, size) of `path`, or (-1, -1) if it cannot be stat'ed: a
// cheap "did the file change" test for reloadable files.
std::pair<int64_t, int64_t> FileStamp(const std::string& path);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_IDENTITY_ENROLMENT_LIST_H_
