// The client's two final states. Completed: it sent its UnmaskingResponse.
// Aborted: something failed or the server aborted. Both refuse every message.
#ifndef FEDLEARN_CLIENT_SECAGG_TERMINAL_STATES_H_
#define FEDLEARN_CLIENT_SECAGG_TERMINAL_STATES_H_

#include <string>

#include "client/secagg/client_state.h"

namespace fedlearn {

class CompletedClientState : public SecAggClientState {
 public:
  const char* Name() const override { return "Completed"; }
  absl::StatusOr<Transition> Handle(
      const v1::SecAggServerMessage& message) override;
};

class AbortedClientState : public SecAggClientState {
 public:
  explicit AbortedClientState(absl::Status reason)
      : reason_(std::move(reason)) {}
  const char* Name() const override { return "Aborted"; }
  absl::StatusOr<Transition> Handle(
      const v1::SecAggServerMessage& message) override;
  const absl::Status& reason() const { return reason_; }

 private:
  absl::Status reason_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECAGG_TERMINAL_STATES_H_
