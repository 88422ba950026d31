// Test doubles for ClientSession: a trainer that returns a fixed delta and a
// scripted CoordinatorTransport (no network, no LibTorch), plus helpers that
// build a task and join a run. Shared by client_session_test.cc and
// client_metrics_test.cc. Not thread-safe; single-threaded tests only.
#ifndef FEDLEARN_TESTS_CLIENT_FAKE_SESSION_PARTS_H_
#define FEDLEARN_TESTS_CLIENT_FAKE_SESSION_PARTS_H_

#include <atomic>
#include <deque>
#include <string>
#include <vector>

#include "client/client_session.h"
#include "gtest/gtest.h"

namespace fedlearn {

inline ModelSpec MakeSpec(int64_t n) {
  return ModelSpec{"fake", {{"w", {n}, DType::kFloat32}}};
}

class FakeTrainer : public LocalTrainer {
 public:
  explicit FakeTrainer(int64_t n) : spec_(MakeSpec(n)) {}
  const ModelSpec& Spec() const override { return spec_; }
  uint64_t NumExamples() const override { return 42; }
  absl::StatusOr<TrainingResult> Train(
      const FlatVector& global, const TrainingConfig&,
      const std::atomic<bool>& cancel) override {
    ++calls;
    if (cancel_during_training) {
      return absl::CancelledError("cancelled between batches");
    }
    if (!train_status.ok()) return train_status;
    TrainingResult r;
    r.delta = FlatVector(global.size());
    for (size_t i = 0; i < global.size(); ++i) r.delta[i] = 0.5f;
    r.num_examples = 42;
    r.train_loss = 0.25;
    r.seconds = seconds;
    return r;
  }
  ModelSpec spec_;
  int calls = 0;
  bool cancel_during_training = false;
  absl::Status train_status = absl::OkStatus();  // returned instead
  double seconds = 0;                            // reported per training
};

class FakeTransport : public CoordinatorTransport {
 public:
  absl::StatusOr<ReceivedContract> GetContract() override {
    ++contract_fetches;
    return contract;
  }
  absl::StatusOr<RegisterReply> Register(
      uint64_t num_examples, const std::string& contract_digest) override {
    ++registers;
    registered_examples = num_examples;
    registered_digest = contract_digest;
    if (!register_status.ok()) return register_status;
    return RegisterReply{"run-1", client_id, 1, 1000};
  }
  absl::Status Leave(bool permanent, const std::string& reason) override {
    leaves.push_back({permanent, reason});
    return absl::OkStatus();
  }
  absl::StatusOr<FetchReply> FetchTask(const std::string&, uint64_t) override {
    if (fetch_replies.empty())
      return absl::UnavailableError("no scripted reply");
    absl::StatusOr<FetchReply> r = std::move(fetch_replies.front());
    fetch_replies.pop_front();
    return r;
  }
  absl::Status PushResult(const OutgoingUpdate& update) override {
    pushed.push_back({update.round, update.num_examples, update.delta->Clone(),
                      update.eval_report});
    return push_status;
  }
  absl::StatusOr<bool> Heartbeat(const std::string&,
                                 std::string_view) override {
    return false;
  }
  // Scripted replies; when none is left: nothing new, ask again in 250 ms.
  absl::StatusOr<SecAggExchangeReply> SecAggExchange(
      const std::string&, uint64_t,
      const v1::SecAggClientMessage* message) override {
    ++exchanges;
    if (!secagg_replies.empty()) {
      absl::StatusOr<SecAggExchangeReply> r = std::move(secagg_replies.front());
      secagg_replies.pop_front();
      if (r.ok() && message != nullptr) secagg_messages.push_back(*message);
      return r;
    }
    if (message != nullptr) secagg_messages.push_back(*message);
    SecAggExchangeReply nothing_new;
    nothing_new.retry_after_ms = 250;
    return nothing_new;
  }
  absl::Status PushMaskedInput(const std::string&, uint64_t, uint64_t,
                               absl::Span<const uint32_t>, int,
                               absl::Span<const uint64_t>,
                               const std::string&) override {
    return absl::UnimplementedError("not used by these tests");
  }
  void CancelInFlight() override {}

  struct Pushed {
    uint64_t round;
    uint64_t num_examples;
    FlatVector delta;
    std::vector<uint64_t> eval_report;  // UpdateHeader.eval_report
  };
  struct Left {
    bool permanent;
    std::string reason;
  };
  std::string client_id = "site-a";
  int exchanges = 0;
  std::deque<absl::StatusOr<SecAggExchangeReply>> secagg_replies;
  std::vector<v1::SecAggClientMessage> secagg_messages;  // delivered
  int contract_fetches = 0;
  ReceivedContract contract{{}, "digest-1"};
  std::string registered_digest;
  absl::Status register_status = absl::OkStatus();
  std::vector<Left> leaves;
  int registers = 0;
  uint64_t registered_examples = 0;
  std::deque<absl::StatusOr<FetchReply>> fetch_replies;
  std::vector<Pushed> pushed;
  absl::Status push_status = absl::OkStatus();
};

inline FetchReply TaskReply(int64_t n, uint64_t round) {
  FetchReply reply;
  ReceivedTask task;
  task.run_id = "run-1";
  task.round = round;
  task.model_version = round - 1;
  task.model.spec = MakeSpec(n);
  task.model.values = FlatVector(static_cast<size_t>(n));
  reply.task = std::move(task);
  return reply;
}

// Prepare (contract) and register: the two steps before the first task.
inline void Join(ClientSession& session, const std::atomic<bool>& cancel) {
  ClientSession::StepResult prepared = session.Step(cancel);
  ASSERT_EQ(prepared.kind, ClientSession::StepKind::kPrepared)
      << prepared.status;
  ClientSession::StepResult registered = session.Step(cancel);
  ASSERT_EQ(registered.kind, ClientSession::StepKind::kRegistered)
      << registered.status;
}

}  // namespace fedlearn

#endif  // FEDLEARN_TESTS_CLIENT_FAKE_SESSION_PARTS_H_
