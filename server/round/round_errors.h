// The round engine's repeated messages, written once: the "round R attempt A"
// label every attempt's log line and failure starts with, the errors a
// client gets for naming an unknown identity, another run or a round it was
// not selected for, and the advice attached to a failed attempt.
//
// Client ids reaching these functions were accepted by the transport (which
// bounds and authenticates them); free-text client input is escaped before
// it gets here (ClientRegistry::Leave). Stateless; thread-safe.
#ifndef FEDLEARN_SERVER_ROUND_ROUND_ERRORS_H_
#define FEDLEARN_SERVER_ROUND_ROUND_ERRORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fedlearn {

// What to change when an attempt collected too few updates.
inline constexpr char kTooFewUpdatesAdvice[] =
    "lower min_updates, raise round_timeout or add clients";

// "round 3 attempt 2": the prefix of every attempt's log line and failure.
std::string AttemptLabel(uint64_t round, int attempt);

// NotFound: `client_id` never registered.
absl::Status UnknownClientError(const std::string& client_id);
// FailedPrecondition: a client's `what` ("update", "message") names a run
// other than the active one.
absl::Status WrongRunError(const std::string& what, const std::string& run_id,
                           const std::string& active_run_id);
// PermissionDenied: `client_id` is not in round `round`'s cohort.
absl::Status NotSelectedError(const std::string& client_id, uint64_t round);
// AlreadyExists: `client_id` already answered round `round`.
absl::Status AlreadyAnsweredError(const std::string& client_id, uint64_t round);
// FailedPrecondition: no secure aggregation is open for `round`.
absl::Status NoSecureRoundError(uint64_t round, uint64_t current_round);

// "a, b, c (+N more)": at most ten names, for log lines.
std::string DescribeClientList(const std::vector<std::string>& ids);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_ROUND_ERRORS_H_
