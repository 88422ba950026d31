// CoordinatorTransport over gRPC, with mutual TLS unless explicitly insecure.
// Downloads and uploads stream the model in 1 MiB chunks; every call has a
// deadline so a vanished coordinator cannot hang the daemon.
#ifndef FEDLEARN_CLIENT_GRPC_COORDINATOR_TRANSPORT_H_
#define FEDLEARN_CLIENT_GRPC_COORDINATOR_TRANSPORT_H_

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "client/coordinator_transport.h"
#include "common/transport/tls_config.h"
#include "proto/fedlearn/v1/fedlearn.grpc.pb.h"

namespace fedlearn {

struct GrpcTransportOptions {
  std::string target;  // "host:port"
  TlsConfig tls;
  // The name the server certificate must carry (SAN); defaults to the host.
  std::string server_name_override;
  // Insecure mode only: the identity to claim.
  std::string claimed_client_id;
  std::chrono::milliseconds rpc_timeout{std::chrono::seconds(30)};
  // Generous: a 100 MB model over a slow link.
  std::chrono::milliseconds transfer_timeout{std::chrono::minutes(10)};
};

class GrpcCoordinatorTransport : public CoordinatorTransport {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcCoordinatorTransport>> Create(
      GrpcTransportOptions options);

  absl::StatusOr<RegisterReply> Register(uint64_t num_examples) override;
  absl::StatusOr<FetchReply> FetchTask(const std::string& run_id,
                                       uint64_t last_round) override;
  absl::Status PushResult(const OutgoingUpdate& update) override;
  absl::StatusOr<bool> Heartbeat(const std::string& run_id,
                                 std::string_view activity) override;
  absl::StatusOr<SecAggExchangeResult> SecAggExchange(
      const std::string& run_id, uint64_t round,
      const v1::SecAggClientMessage* message) override;
  absl::Status PushMaskedInput(const std::string& run_id, uint64_t round,
                               uint64_t model_version,
                               absl::Span<const uint32_t> masked,
                               int value_bytes) override;
  void CancelInFlight() override;

 private:
  GrpcCoordinatorTransport(GrpcTransportOptions options,
                           std::unique_ptr<v1::Coordinator::Stub> stub);

  // Registers a context so CancelInFlight can reach it.
  class ScopedCall;
  // Streams a header, then `num_values` values in chunks of kChunkValues;
  // `encode(offset, n, out)` writes values [offset, offset + n) into `out`.
  absl::Status PushStream(
      v1::ResultChunk header, size_t num_values,
      const std::function<void(size_t, size_t, std::string*)>& encode);

  const GrpcTransportOptions options_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  std::mutex mu_;
  std::set<grpc::ClientContext*> in_flight_;
  bool cancelled_ = false;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_GRPC_COORDINATOR_TRANSPORT_H_
