// Internal to ClientSession's translation units (client_session.cc,
// client_session_secure.cc): how a step's result is built, and which
// refusal a lost upload is reported as. Not for other callers. Plain
// functions, no state.
#ifndef FEDLEARN_CLIENT_CLIENT_SESSION_STEPS_H_
#define FEDLEARN_CLIENT_CLIENT_SESSION_STEPS_H_

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "client/client_session.h"

namespace fedlearn::session_steps {

inline ClientSession::StepResult Failed(absl::Status status) {
  ClientSession::StepResult r;
  r.kind = ClientSession::StepKind::kFailed;
  r.status = std::move(status);
  return r;
}

inline ClientSession::StepResult Result(ClientSession::StepKind kind,
                                        uint64_t round = 0) {
  ClientSession::StepResult r;
  r.kind = kind;
  r.round = round;
  return r;
}

// Why an upload that will not be resent was lost: an answer from the
// coordinator, or its deadline, or no answer at all.
inline TaskRefusal UploadLost(const absl::Status& status) {
  if (absl::IsDeadlineExceeded(status)) return TaskRefusal::kStale;
  if (absl::IsUnavailable(status) || absl::IsCancelled(status)) {
    return TaskRefusal::kOther;
  }
  return TaskRefusal::kCoordinatorRefused;
}

}  // namespace fedlearn::session_steps

#endif  // FEDLEARN_CLIENT_CLIENT_SESSION_STEPS_H_
