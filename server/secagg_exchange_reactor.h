// SecAggExchangeReactor: one SecAggExchange call on gRPC's callback unary
// API, so a long poll holds no thread while the client waits for its next
// secure-aggregation phase.
//
// The request goes to the engine at once (RoundEngine::SecAggExchange). A
// request that carries no message and finds nothing new for its client (no
// next-phase message, no abort) is held, when it asks (SecAggRequest.wait_ms
// > 0) and the service has a wait list, for min(wait_ms,
// limits.max_fetch_wait): the server offers a phase's request until the
// client answers it (SecAggServerState::PendingMessageFor), so "nothing
// pending" is exactly "nothing this client has not handled". A held call
// asks the engine again whenever the attempt moves (SecAggWaitNotifier: a
// phase entered, the attempt retried, a round started) and answers as soon
// as its client has a message or an abort, with `waited` set; a wait that
// runs out answers nothing new with `waited` set and retry_after_ms 0; a
// closed list (the run ended, shutdown) answers every waiter now, unwaited.
// A cancelled call ends its wait. A request with a message, or wait_ms 0, is
// answered at once, as before the field existed.
//
// Refused with a status: a bad identity or its RPC rate, the engine's
// error, or a full wait list (RESOURCE_EXHAUSTED naming
// limits.max_waiting_secagg_exchanges).
//
// Thread-safety: the constructor runs on a gRPC thread, the wake callbacks
// on the wait list's; one mutex serializes them. Deletes itself in OnDone.
#ifndef FEDLEARN_SERVER_SECAGG_EXCHANGE_REACTOR_H_
#define FEDLEARN_SERVER_SECAGG_EXCHANGE_REACTOR_H_

#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "grpcpp/support/server_callback.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "server/admission/fetch_wait_list.h"
#include "server/round/round_types.h"
#include "server/stream_services.h"

namespace fedlearn {

// Wakes the held exchanges whenever the open attempt moves (a secure phase
// entered, the attempt retried or closed, a round started) and answers them
// all when the run ends. One wake per transition, never per message: the
// phases of an attempt are few. Thread-safe (FetchWaitList is); its hooks
// only bump the list's epoch, so they may run under the engine's lock.
class SecAggWaitNotifier final : public RoundListener {
 public:
  explicit SecAggWaitNotifier(FetchWaitList* waits) : waits_(waits) {}
  absl::Status OnRoundCompleted(const RoundSummary&,
                                const FlatModel&) override {
    waits_->WakeAll();
    return absl::OkStatus();
  }
  void OnRoundRetried(uint64_t, int, const std::string&) override {
    waits_->WakeAll();
  }
  void OnRoundStarted(uint64_t, int, const std::vector<std::string>&) override {
    waits_->WakeAll();
  }
  void OnPhaseStarted(uint64_t, int, const std::string&) override {
    waits_->WakeAll();
  }
  void OnRunEnded(const absl::Status&) override { waits_->Close(); }

 private:
  FetchWaitList* const waits_;
};

class SecAggExchangeReactor final : public grpc::ServerUnaryReactor,
                                    private FetchWaitList::Waiter {
 public:
  SecAggExchangeReactor(StreamServices* services,
                        grpc::CallbackServerContext* context,
                        const v1::SecAggRequest* request,
                        v1::SecAggResponse* response);

  void OnCancel() override;
  void OnDone() override;

 private:
  // Admits the call and asks the engine: answers, or lists a wait.
  absl::Status Start() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // FetchWaitList::Waiter: the attempt moved, or the wait ran out.
  bool OnWake(bool final) override;
  void OnExpired() override;
  // Asks the engine again for a held call: answers (false) or, unless
  // `must_answer`, keeps waiting (true).
  bool Resume(bool must_answer, bool expired);
  void Answer(SecAggExchangeReply reply, bool waited)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishLocked(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  StreamServices* const services_;
  grpc::CallbackServerContext* const context_;
  const v1::SecAggRequest* const request_;
  v1::SecAggResponse* const response_;

  std::mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // Listed in services_->secagg_waits, not answered yet.
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;
  std::string id_;
  uint64_t wait_id_ = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_EXCHANGE_REACTOR_H_
