#include "server/identity/enrolment_list.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/tls/cert_authority.h"
#include "common/util/atomic_file.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {

std::pair<int64_t, int64_t> FileStamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {-1, -1};
  return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
              st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_size)};
}

absl::StatusOr<std::set<std::string>> ParseEnrolmentFile(
    const std::string& text, const std::string& origin) {
  std::set<std::string> ids;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (absl::Status s =
            ValidateClientId(std::string_view(line.data(), line.size()));
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ":", line_number, ": '", EscapeUntrusted(line, 64),
          "' is not a client id: ", s.message()));
    }
    ids.insert(std::string(line));
  }
  return ids;
}

absl::StatusOr<std::unique_ptr<EnrolmentList>> EnrolmentList::Create(
    const IdentityConfig& config) {
  std::set<std::string> from_config;
  for (const std::string& id : config.enrolled_clients) {
    if (absl::Status s = ValidateClientId(id); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("security.enrolled_clients: '", EscapeUntrusted(id, 64),
                       "' is not a client id: ", s.message()));
    }
    from_config.insert(id);
  }
  std::unique_ptr<EnrolmentList> list(
      new EnrolmentList(std::move(from_config), config.enrolment_file,
                        config.allow_any_enrolled_by_ca));
  if (!list->file_.empty()) {
    RETURN_IF_ERROR(list->Reload(/*force=*/true).status());
  }
  return list;
}

bool EnrolmentList::Contains(const std::string& client_id) const {
  if (allow_any_ || from_config_.count(client_id) > 0) return true;
  std::lock_guard<std::mutex> lock(mu_);
  return from_file_.count(client_id) > 0;
}

size_t EnrolmentList::size() const { return ids().size(); }

std::set<std::string> EnrolmentList::ids() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> all = from_file_;
  all.insert(from_config_.begin(), from_config_.end());
  return all;
}

absl::StatusOr<bool> EnrolmentList::Reload(bool force) {
  if (file_.empty()) return false;
  const std::pair<int64_t, int64_t> stamp = FileStamp(file_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!force && stamp == file_stamp_) return false;
    // A bad file is reported once per change, not at every poll.
    file_stamp_ = stamp;
  }
  absl::StatusOr<std::string> text = ReadFileToString(file_);
  if (!text.ok()) {
    return absl::Status(
        text.status().code(),
        absl::StrCat("security.enrolment_file: ", text.status().message()));
  }
  ASSIGN_OR_RETURN(std::set<std::string> ids, ParseEnrolmentFile(*text, file_));
  std::lock_guard<std::mutex> lock(mu_);
  if (ids == from_file_) return false;
  from_file_ = std::move(ids);
  return true;
}

}  // namespace fedlearn
