#include "server/round/round_errors.h"

#include "absl/strings/str_cat.h"
#include "common/util/escape.h"

namespace fedlearn {

std::string AttemptLabel(uint64_t round, int attempt) {
  return absl::StrCat("round ", round, " attempt ", attempt);
}

absl::Status UnknownClientError(const std::string& client_id) {
  return absl::NotFoundError(absl::StrCat(
      "unknown client '", EscapeUntrusted(client_id, 64), "': register first"));
}

absl::Status WrongRunError(const std::string& what, const std::string& run_id,
                           const std::string& active_run_id) {
  return absl::FailedPreconditionError(
      absl::StrCat(what, " names run '", EscapeUntrusted(run_id, 64),
                   "', active run is '", active_run_id, "'"));
}

absl::Status NotSelectedError(const std::string& client_id, uint64_t round) {
  return absl::PermissionDeniedError(absl::StrCat(
      "client '", client_id, "' was not selected for round ", round));
}

absl::Status AlreadyAnsweredError(const std::string& client_id,
                                  uint64_t round) {
  return absl::AlreadyExistsError(
      absl::StrCat("client '", client_id, "' already answered round ", round));
}

absl::Status NoSecureRoundError(uint64_t round, uint64_t current_round) {
  return absl::FailedPreconditionError(
      absl::StrCat("no secure aggregation is open for round ", round,
                   " (current round ", current_round, ")"));
}

std::string DescribeClientList(const std::vector<std::string>& ids) {
  constexpr size_t kMaxNamed = 10;
  std::string out;
  for (size_t i = 0; i < ids.size() && i < kMaxNamed; ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", ids[i]);
  }
  if (ids.size() > kMaxNamed) {
    absl::StrAppend(&out, " (+", ids.size() - kMaxNamed, " more)");
  }
  return out;
}

}  // namespace fedlearn
