// TaskDownloadReactor: one FetchTask stream on gRPC's callback API: the
// task header, then the model in kChunkValues chunks, one write in flight
// at a time (so a client that stops reading holds no thread and no more
// than one encoded chunk).
//
// Refused at once with a status: no free stream (limits.max_open_streams),
// a bad identity or its RPC rate, the identity's download streams
// (max_downloads_per_identity), or the engine's FetchTask error. The
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
#include "server/stream_services.h"

namespace fedlearn {

class TaskDownloadReactor final
    : public grpc::ServerWriteReactor<v1::TaskChunk> {
 public:
  TaskDownloadReactor(StreamServices* services,
                      grpc::CallbackServerContext* context,
                      const v1::FetchTaskRequest* request);

  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  // Admits the stream and asks the engine: the task (or NoTask).
  absl::Status Start(const v1::FetchTaskRequest& request);
  void WriteHeader(const Task& task);
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
  // The message being written; the task whose model is streamed (none:
  // NoTask was written) and how far.
  v1::TaskChunk chunk_ ABSL_GUARDED_BY(mu_);
  std::optional<Task> task_ ABSL_GUARDED_BY(mu_);
  size_t offset_ ABSL_GUARDED_BY(mu_) = 0;
  std::string id_;
  StreamAdmission::Ticket stream_ticket_;
  StreamAdmission::Ticket identity_ticket_;
  uint64_t watch_id_ = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_TASK_DOWNLOAD_REACTOR_H_
