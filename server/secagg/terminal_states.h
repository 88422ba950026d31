// The server's two final states: Completed (the sum is unmasked and waits in
// the context for TakeResult) and Aborted (the reason lives in the facade).
// Both refuse every message and cannot advance.
#ifndef FEDLEARN_SERVER_SECAGG_TERMINAL_STATES_H_
#define FEDLEARN_SERVER_SECAGG_TERMINAL_STATES_H_

#include "server/secagg/server_state.h"

namespace fedlearn {

class CompletedServerState : public SecAggServerState {
 public:
  explicit CompletedServerState(std::shared_ptr<ServerRoundContext> context)
      : SecAggServerState(std::move(context), {}) {}
  SecAggServerPhase phase() const override {
    return SecAggServerPhase::kCompleted;
  }
  absl::StatusOr<std::unique_ptr<SecAggServerState>> Advance() override {
    return absl::FailedPreconditionError(
        "secure aggregation already completed");
  }
};

class AbortedServerState : public SecAggServerState {
 public:
  AbortedServerState(std::shared_ptr<ServerRoundContext> context,
                     const std::string& reason);
  SecAggServerPhase phase() const override {
    return SecAggServerPhase::kAborted;
  }
  absl::StatusOr<std::unique_ptr<SecAggServerState>> Advance() override {
    return absl::FailedPreconditionError("secure aggregation aborted");
  }
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_TERMINAL_STATES_H_
