#include "client/secagg/terminal_states.h"

#include "absl/strings/str_cat.h"

namespace fedlearn {

absl::StatusOr<SecAggClientState::Transition> CompletedClientState::Handle(
    const v1::SecAggServerMessage& message) {
  return absl::FailedPreconditionError(
      absl::StrCat("secure aggregation already completed; unexpected ",
                   ServerMessageName(message)));
}

absl::StatusOr<SecAggClientState::Transition> AbortedClientState::Handle(
    const v1::SecAggServerMessage& message) {
  return absl::FailedPreconditionError(
      absl::StrCat("secure aggregation aborted: ", reason_.message()));
}

}  // namespace fedlearn
