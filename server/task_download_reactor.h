// TaskDownloadReactor: one FetchTask stream on gRPC's callback API: the
// task header, then the model in kChunkValues chunks, one write in flight
// at a time (so a client that stops reading holds no thread and no more
// than one encoded chunk).
//
// Long poll (FetchTaskRequest.wait_ms > 0): with no task for the client and
// the run not over, the stream waits in the service's FetchWaitList, with
// no thread, no watchdog entry and none of limits.max_open_streams (only
// its identity's download slot), for min(wait_ms, limits.max_fetch_wait).
// It asks the engine again whenever an attempt opens (TaskWaitNotifier)
// and answers the task, or the run's end, at once; a wait that runs out
// answers NoTask with retry_after_ms 0 and `waited` set. A cancelled call
// ends its wait; a closed list (run ended, shutdown) answers every waiter
// now. wait_ms 0 answers at once, as before the field existed.
//
// Refused at once with a status: no free stream (limits.max_open_streams),
// a bad identity or its RPC rate, the identity's download streams
// (max_downloads_per_identity), the waiting streams
// (max_waiting_fetches), or the engine's FetchTask error. The
// StreamWatchdog ends a stream whose write has not completed for
// stream_idle_timeout, or older than stream_deadline: the call is
// cancelled (a write stuck on flow control would hold the status back).
//
// Thread-safety: as ResultUploadReactor. Deletes itself in OnDone.
#ifndef FEDLEARN_SERVER_TASK_DOWNLOAD_REACTOR_H_
#define FEDLEARN_SERVER_TASK_DOWNLOAD_REACTOR_H_

#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "grpcpp/support/server_callback.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "server/admission/fetch_wait_list.h"
#include "server/round/round_types.h"
#include "server/stream_services.h"

namespace fedlearn {

// Wakes the waiting fetches when an attempt opens and answers them all
// when the run ends. Thread-safe (FetchWaitList is).
class TaskWaitNotifier final : public RoundListener {
 public:
  explicit TaskWaitNotifier(FetchWaitList* waits) : waits_(waits) {}
  absl::Status OnRoundCompleted(const RoundSummary&,
                                const FlatModel&) override {
    return absl::OkStatus();
  }
  void OnRoundStarted(uint64_t, int, const std::vector<std::string>&) override {
    waits_->WakeAll();
  }
  void OnRunEnded(const absl::Status&) override { waits_->Close(); }

 private:
  FetchWaitList* const waits_;
};

class TaskDownloadReactor final
    : public grpc::ServerWriteReactor<v1::TaskChunk>,
      private FetchWaitList::Waiter {
 public:
  TaskDownloadReactor(StreamServices* services,
                      grpc::CallbackServerContext* context,
                      const v1::FetchTaskRequest* request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Admits the stream and asks the engine: the task, NoTask, or a wait.
  absl::Status Start(const v1::FetchTaskRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Lists the stream as waiting (false: the list is closed, answer now).
  absl::StatusOr<bool> StartWait(Duration wait, uint64_t epoch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // FetchWaitList::Waiter: the engine asked again.
  bool OnWake(bool final) override;
  void OnExpired() override;
  // Asks the engine again for a waiting stream: answers (false) or, unless
  // `must_answer`, keeps waiting (true).
  bool Resume(bool must_answer, bool expired);
  // Fills chunk_ with the task's header or NoTask.
  void Answer(FetchOutcome outcome, bool waited)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteHeader(const Task& task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the watchdog and the first write.
  void BeginWrites() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts chunk_ (metrics) and starts writing it.
  void WriteChunk() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Expire(const absl::Status& why);
  void FinishLocked(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  StreamServices* const services_;
  grpc::CallbackServerContext* const context_;

  std::mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool write_pending_ ABSL_GUARDED_BY(mu_) = false;
  // Listed in services_->waits, no answer written yet.
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;
  // The message being written; the task whose model is streamed (none:
  // NoTask was written) and how far.
  v1::TaskChunk chunk_ ABSL_GUARDED_BY(mu_);
  std::optional<Task> task_ ABSL_GUARDED_BY(mu_);
  size_t offset_ ABSL_GUARDED_BY(mu_) = 0;
  std::string id_;
  StreamAdmission::Ticket stream_ticket_;
  StreamAdmission::Ticket identity_ticket_;
  uint64_t watch_id_ = 0;
  uint64_t wait_id_ = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_TASK_DOWNLOAD_REACTOR_H_
