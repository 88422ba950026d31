// TESTING ONLY: a CoordinatorTransport decorator that kills the process at a
// chosen point of the secure-aggregation protocol, so an end-to-end test can
// show a round surviving a client that dies mid-protocol. fedlearn-client
// installs it only for its hidden --testing-exit-after-secagg-messages flag;
// the production path (session, secure upload, gRPC transport) knows
// nothing of it.
//
// Guarantees: every call is forwarded unchanged to the wrapped transport;
// right after the Nth secure-aggregation message was delivered (an
// exchange carrying a message returned OK), `on_fault` runs (default:
// std::_Exit(17), no cleanup, like a crash). N = 2 is just after sharing
// keys. Thread-safe if the wrapped transport is.
#ifndef FEDLEARN_CLIENT_FAULT_INJECTING_TRANSPORT_H_
#define FEDLEARN_CLIENT_FAULT_INJECTING_TRANSPORT_H_

#include <atomic>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>

#include "client/coordinator_transport.h"
#include "common/util/log.h"

namespace fedlearn {

// The exit code of a process the fault injection killed.
inline constexpr int kFaultInjectionExitCode = 17;

class FaultInjectingTransport : public CoordinatorTransport {
 public:
  // REQUIRES: `inner` outlives this; exit_after_secagg_messages >= 1.
  FaultInjectingTransport(
      CoordinatorTransport* inner, int exit_after_secagg_messages,
      std::function<void()> on_fault =
          [] { std::_Exit(kFaultInjectionExitCode); })
      : inner_(inner),
        limit_(exit_after_secagg_messages),
        on_fault_(std::move(on_fault)) {}

  absl::StatusOr<ReceivedContract> GetContract() override {
    return inner_->GetContract();
  }
  absl::StatusOr<RegisterReply> Register(
      uint64_t num_examples, const std::string& contract_digest) override {
    return inner_->Register(num_examples, contract_digest);
  }
  absl::Status Leave(bool permanent, const std::string& reason) override {
    return inner_->Leave(permanent, reason);
  }
  absl::StatusOr<FetchReply> FetchTask(const std::string& run_id,
                                       uint64_t last_round) override {
    return inner_->FetchTask(run_id, last_round);
  }
  absl::Status PushResult(const OutgoingUpdate& update) override {
    return inner_->PushResult(update);
  }
  absl::StatusOr<SecAggExchangeReply> SecAggExchange(
      const std::string& run_id, uint64_t round,
      const v1::SecAggClientMessage* message) override {
    absl::StatusOr<SecAggExchangeReply> reply =
        inner_->SecAggExchange(run_id, round, message);
    if (message != nullptr && reply.ok() && ++delivered_ == limit_) {
      spdlog::warn(
          "fault injection: exiting after {} secure-aggregation messages",
          limit_);
      on_fault_();
    }
    return reply;
  }
  // A poll carries no message: it counts for nothing.
  bool SecAggPollAsync(
      const std::string& run_id, uint64_t round, std::chrono::milliseconds wait,
      std::function<void(absl::StatusOr<SecAggExchangeReply>)> done) override {
    return inner_->SecAggPollAsync(run_id, round, wait, std::move(done));
  }
  absl::Status PushMaskedInput(const std::string& run_id, uint64_t round,
                               uint64_t model_version,
                               absl::Span<const uint32_t> masked,
                               int value_bytes,
                               absl::Span<const uint64_t> clear_eval_report,
                               const std::string& secagg_session_id) override {
    return inner_->PushMaskedInput(run_id, round, model_version, masked,
                                   value_bytes, clear_eval_report,
                                   secagg_session_id);
  }
  absl::StatusOr<bool> Heartbeat(const std::string& run_id,
                                 std::string_view activity) override {
    return inner_->Heartbeat(run_id, activity);
  }
  void CancelInFlight() override { inner_->CancelInFlight(); }

 private:
  CoordinatorTransport* const inner_;
  const int limit_;
  const std::function<void()> on_fault_;
  std::atomic<int> delivered_{0};
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_FAULT_INJECTING_TRANSPORT_H_
