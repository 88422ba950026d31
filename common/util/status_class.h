// Permanent and transient failures.
//
// A client daemon retries what may heal by itself (the coordinator is away, a
// round deadline passed, a network error) and stops on what never will (its
// data does not match the run's schema, it cannot build the run's model, the
// run is below its privacy floor). The distinction is explicit, carried by
// the status itself, never guessed from a status code: a FailedPrecondition
// from the coordinator ("round already closed") is transient, while the same
// code from the site's own schema check is not.
//
// Thread-safety: free functions on values.
#ifndef FEDLEARN_COMMON_UTIL_STATUS_CLASS_H_
#define FEDLEARN_COMMON_UTIL_STATUS_CLASS_H_

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace fedlearn {

inline constexpr absl::string_view kPermanentFailurePayload =
    "type.fedlearn/permanent-failure";

// Returns `status` marked permanent (an OK status stays OK).
inline absl::Status MarkPermanent(absl::Status status) {
  if (!status.ok())
    status.SetPayload(kPermanentFailurePayload, absl::Cord("1"));
  return status;
}

inline bool IsPermanent(const absl::Status& status) {
  return !status.ok() &&
         status.GetPayload(kPermanentFailurePayload).has_value();
}

// Exit status of a client that stopped on a permanent failure: EX_CONFIG from
// sysexits.h, so a service manager can be told not to restart it
// (RestartPreventExitStatus=78).
inline constexpr int kExitPermanentFailure = 78;

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_UTIL_STATUS_CLASS_H_
