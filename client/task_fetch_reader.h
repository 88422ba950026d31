// TaskFetchReader: one FetchTask call on gRPC's callback client API, so a
// long poll (FetchTaskRequest.wait_ms) holds no thread while the
// coordinator waits. It assembles the same FetchReply the blocking
// GrpcCoordinatorTransport::FetchTask does: NoTask, or the header and the
// model streamed in chunks; a stream that breaks the protocol (data after
// NoTask, a malformed or short model) is cancelled and reported as
// DATA_LOSS, never as a task.
//
// TaskFromHeader is shared with the blocking path.
//
// Thread-safety: Start() once; the callbacks run on gRPC's threads, one at
// a time; `done` runs once, on one of them, after which the reader deletes
// itself.
#ifndef FEDLEARN_CLIENT_TASK_FETCH_READER_H_
#define FEDLEARN_CLIENT_TASK_FETCH_READER_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "client/coordinator_transport.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "proto/fedlearn/v1/fedlearn.grpc.pb.h"

namespace fedlearn {

// The task a header announces, its model values still to be streamed.
absl::StatusOr<ReceivedTask> TaskFromHeader(const v1::TaskHeader& header);

// The reply's fields of a NoTask message.
void FillNoTask(const v1::NoTask& no_task, FetchReply* reply);

class TaskFetchReader final : public grpc::ClientReadReactor<v1::TaskChunk> {
 public:
  struct Outcome {
    grpc::Status status;    // the call's
    absl::Status protocol;  // OK unless the stream broke the protocol
    FetchReply reply;       // meaningful when both are OK
    size_t received_bytes = 0;
  };
  using Done = std::function<void(Outcome)>;

  // Starts the call on `context` (which must outlive `done`).
  static void Start(v1::Coordinator::Stub* stub,
                    std::shared_ptr<grpc::ClientContext> context,
                    v1::FetchTaskRequest request, Done done);

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  TaskFetchReader(std::shared_ptr<grpc::ClientContext> context,
                  v1::FetchTaskRequest request, Done done);
  // The protocol broke: remember why and end the call.
  void Abandon(absl::Status why);

  std::shared_ptr<grpc::ClientContext> context_;
  const v1::FetchTaskRequest request_;
  Done done_;
  v1::TaskChunk chunk_;
  bool first_ = true;
  uint64_t expected_values_ = 0;
  size_t received_values_ = 0;
  Outcome outcome_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TASK_FETCH_READER_H_
