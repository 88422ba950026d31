// ResultUploadReactor: one PushResult stream on gRPC's callback API, so a
// stream that sends nothing holds no thread, only this object.
//
// Order of checks, each refusing the stream at once with a status:
//   1. a free stream (limits.max_open_streams), then the StreamWatchdog
//      watches it: no message for stream_idle_timeout, or a stream older
//      than stream_deadline, ends it with DEADLINE_EXCEEDED;
//   2. on the header: the identity and its RPC rate, the identity's upload
//      streams (max_uploads_per_identity), the header's shape (no
//      allocation), the engine's permission (CheckMayUpload: registered,
//      selected, fetched, not answered);
//   3. only then one of the global upload buffers (max_concurrent_uploads),
//      refused with RESOURCE_EXHAUSTED and a retry hint when all are busy:
//      nothing waits; a plaintext update's buffer comes from
//      services->upload_buffers (reused) and goes back to it however the
//      upload ends;
//   4. the chunks go to an UploadAssembler; the whole submission goes to
//      the engine when the client half-closes.
// The method is registered raw (grpc::ByteBuffer): the header is parsed as
// a protobuf message, and each data chunk is read in place from the slices
// it arrived in (ResultChunkView), so its payload is copied once, into the
// upload buffer; a chunk in any other shape is parsed the ordinary way.
// A malformed plaintext update counts as the client's answer for the round
// (RoundEngine::RejectUpdate). Client-supplied text reaches logs escaped.
//
// Thread-safety: reactions come from gRPC threads, expiry from the
// watchdog's; `mu_` orders them, and Finish is called exactly once. Deletes
// itself in OnDone.
#ifndef FEDLEARN_SERVER_RESULT_UPLOAD_REACTOR_H_
#define FEDLEARN_SERVER_RESULT_UPLOAD_REACTOR_H_

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "server/stream_services.h"
#include "server/upload_assembler.h"

namespace fedlearn {

class ResultUploadReactor final
    : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  // Starts reading at once (or finishes at once when no stream is free).
  ResultUploadReactor(StreamServices* services,
                      grpc::CallbackServerContext* context,
                      grpc::ByteBuffer* response);

  void OnReadDone(bool ok) override;
  void OnDone() override;

 private:
  // One message arrived: OK to read on.
  absl::Status OnMessage();
  // `message_` parsed into `chunk_`; InvalidArgument if it does not parse.
  absl::Status Parse();
  absl::Status OnHeader(const v1::UpdateHeader& header);
  // The client half-closed (or went away): the stream's final status.
  absl::Status OnEnd();
  // Plaintext protocol violations are the client's answer for the round.
  void RejectIfMalformed(const absl::Status& status);
  void Expire(const absl::Status& why);
  void FinishLocked(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  StreamServices* const services_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const response_buffer_;
  v1::PushResultResponse response_;

  std::mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool read_pending_ ABSL_GUARDED_BY(mu_) = false;

  // Touched by one reaction at a time (gRPC runs them in sequence).
  grpc::ByteBuffer message_;
  std::vector<grpc::Slice> slices_;
  v1::ResultChunk chunk_;
  v1::UpdateHeader header_;
  bool have_header_ = false;
  std::string id_;
  std::optional<UploadAssembler> assembler_;
  StreamAdmission::Ticket stream_ticket_;
  StreamAdmission::Ticket identity_ticket_;
  StreamAdmission::Ticket buffer_ticket_;
  uint64_t watch_id_ = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_RESULT_UPLOAD_REACTOR_H_
