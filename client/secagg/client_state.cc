#include "client/secagg/client_state.h"

#include "absl/strings/str_cat.h"

namespace fedlearn {

v1::SecAggClientMessage ClientRoundContext::NewMessage() const {
  v1::SecAggClientMessage message;
  message.set_session_id(params.session_id);
  message.set_round(params.round);
  return message;
}

absl::StatusOr<SecAggClientState::Transition> SecAggClientState::Start() {
  return absl::FailedPreconditionError(absl::StrCat(
      "Start() is only valid before advertising keys, not in ", Name()));
}

absl::Status SecAggClientState::UnexpectedMessage(
    const v1::SecAggServerMessage& message) const {
  return absl::FailedPreconditionError(absl::StrCat(
      "unexpected ", ServerMessageName(message), " in phase ", Name()));
}

const char* ServerMessageName(const v1::SecAggServerMessage& message) {
  switch (message.message_case()) {
    case v1::SecAggServerMessage::kShareKeysRequest:
      return "ShareKeysRequest";
    case v1::SecAggServerMessage::kMaskedInputRequest:
      return "MaskedInputRequest";
    case v1::SecAggServerMessage::kConsistencyCheckRequest:
      return "ConsistencyCheckRequest";
    case v1::SecAggServerMessage::kUnmaskingRequest:
      return "UnmaskingRequest";
    case v1::SecAggServerMessage::kAbort:
      return "Abort";
    case v1::SecAggServerMessage::MESSAGE_NOT_SET:
      break;
  }
  return "empty message";
}

}  // namespace fedlearn
