// The gRPC adapter: translates fedlearn.v1.Coordinator RPCs into RoundEngine
// calls and nothing more. Identity comes from the client's TLS certificate
// (its common name); only in --insecure mode is the claimed id used.
//
// Defensive by construction: payload sizes are checked against the model
// before anything is allocated, malformed streams end in a clear status, and
// at most `max_concurrent_uploads` updates are buffered at once (each is
// validated whole before it is folded into the aggregate).
#ifndef FEDLEARN_SERVER_COORDINATOR_SERVICE_H_
#define FEDLEARN_SERVER_COORDINATOR_SERVICE_H_

#include <condition_variable>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "proto/fedlearn/v1/fedlearn.grpc.pb.h"
#include "server/round/round_engine.h"

namespace fedlearn {

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  struct Options {
    bool insecure = false;
    int max_concurrent_uploads = 4;
    uint32_t heartbeat_interval_ms = 10'000;
  };

  CoordinatorService(RoundEngine* engine, Options options);

  grpc::Status GetContract(grpc::ServerContext* context,
                           const v1::GetContractRequest* request,
                           v1::GetContractResponse* response) override;
  grpc::Status Leave(grpc::ServerContext* context,
                     const v1::LeaveRequest* request,
                     v1::LeaveResponse* response) override;
  grpc::Status Register(grpc::ServerContext* context,
                        const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override;
  grpc::Status FetchTask(grpc::ServerContext* context,
                         const v1::FetchTaskRequest* request,
                         grpc::ServerWriter<v1::TaskChunk>* writer) override;
  grpc::Status PushResult(grpc::ServerContext* context,
                          grpc::ServerReader<v1::ResultChunk>* reader,
                          v1::PushResultResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status SecAggExchange(grpc::ServerContext* context,
                              const v1::SecAggRequest* request,
                              v1::SecAggResponse* response) override;

 private:
  absl::StatusOr<std::string> ClientIdentity(grpc::ServerContext* context,
                                             const std::string& claimed) const;
  v1::RoundRef CurrentRef() const;
  // Reads the payload that follows `header` into a submission.
  absl::StatusOr<UpdateSubmission> ReadUpdate(
      grpc::ServerContext* context, const v1::UpdateHeader& header,
      grpc::ServerReader<v1::ResultChunk>* reader);
  // Reads a masked (uint32) payload of exactly `length` values.
  absl::StatusOr<std::vector<uint32_t>> ReadMaskedInput(
      grpc::ServerContext* context, const v1::UpdateHeader& header,
      grpc::ServerReader<v1::ResultChunk>* reader, size_t length);

  RoundEngine* const engine_;
  const Options options_;

  std::mutex upload_mu_;
  std::condition_variable upload_cv_;
  int uploads_in_flight_ = 0;
};

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_SERVICE_H_
