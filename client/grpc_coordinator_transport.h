// CoordinatorTransport over gRPC, with mutual TLS unless explicitly insecure.
// Downloads and uploads stream the model in 1 MiB chunks; every call has a
// deadline so a vanished coordinator cannot hang the daemon.
//
// Create() checks what can be checked before dialling: the address (see
// ParseCoordinatorTarget) and the TLS files (LoadTlsMaterial; an own
// certificate not signed by the configured CA is logged as a warning). An RPC
// that fails because the TLS handshake failed says so and names the likely
// causes before gRPC's own text (see DescribeRpcFailure).
#ifndef FEDLEARN_CLIENT_GRPC_COORDINATOR_TRANSPORT_H_
#define FEDLEARN_CLIENT_GRPC_COORDINATOR_TRANSPORT_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/strings/string_view.h"
#include "client/coordinator_dial.h"
#include "client/coordinator_transport.h"
#include "client/session_observer.h"
#include "common/transport/tls_config.h"
#include "proto/fedlearn/v1/fedlearn.grpc.pb.h"

namespace fedlearn {

struct GrpcTransportOptions {
  std::string target;  // see ParseCoordinatorTarget
  TlsConfig tls;
  // The name the server certificate must carry (SAN); defaults to the host.
  std::string server_name_override;
  // Insecure mode only: the identity to claim.
  std::string claimed_client_id;
  std::chrono::milliseconds rpc_timeout{std::chrono::seconds(30)};
  // Generous: a 100 MB model over a slow link.
  std::chrono::milliseconds transfer_timeout{std::chrono::minutes(10)};
  // Long poll (FetchTaskAsync): how long the coordinator may hold a task
  // fetch waiting for a task (it caps it: limits.max_fetch_wait_s). 0: no
  // FetchTaskAsync (the daemon polls with FetchTask every retry_after_ms).
  std::chrono::milliseconds fetch_wait{std::chrono::seconds(50)};
  // Hears the bytes of every message exchanged (client/session_observer.h);
  // null = nobody. Must outlive the transport.
  TrafficObserver* traffic = nullptr;
};

class GrpcCoordinatorTransport : public CoordinatorTransport {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcCoordinatorTransport>> Create(
      GrpcTransportOptions options);
  // Cancels what is in flight and waits for FetchTaskAsync's and
  // SecAggPollAsync's callbacks.
  ~GrpcCoordinatorTransport() override;

  absl::StatusOr<ReceivedContract> GetContract() override;
  absl::StatusOr<RegisterReply> Register(
      uint64_t num_examples, const std::string& contract_digest) override;
  absl::Status Leave(bool permanent, const std::string& reason) override;
  absl::StatusOr<FetchReply> FetchTask(const std::string& run_id,
                                       uint64_t last_round) override;
  bool FetchTaskAsync(
      const std::string& run_id, uint64_t last_round,
      std::function<void(absl::StatusOr<FetchReply>)> done) override;
  absl::Status PushResult(const OutgoingUpdate& update) override;
  absl::StatusOr<bool> Heartbeat(const std::string& run_id,
                                 std::string_view activity) override;
  absl::StatusOr<SecAggExchangeReply> SecAggExchange(
      const std::string& run_id, uint64_t round,
      const v1::SecAggClientMessage* message) override;
  // On gRPC's callback API (no thread waits); the call's deadline is
  // `wait` + rpc_timeout.
  bool SecAggPollAsync(
      const std::string& run_id, uint64_t round, std::chrono::milliseconds wait,
      std::function<void(absl::StatusOr<SecAggExchangeReply>)> done) override;
  absl::Status PushMaskedInput(const std::string& run_id, uint64_t round,
                               uint64_t model_version,
                               absl::Span<const uint32_t> masked,
                               int value_bytes,
                               absl::Span<const uint64_t> clear_eval_report,
                               const std::string& secagg_session_id) override;
  void CancelInFlight() override;

 private:
  GrpcCoordinatorTransport(GrpcTransportOptions options,
                           std::unique_ptr<v1::Coordinator::Stub> stub);

  // Registers a context so CancelInFlight can reach it.
  class ScopedCall;
  // Tells options_.traffic (if set) about one exchange's message bytes.
  void Count(size_t sent_bytes, size_t received_bytes) const;
  // A SecAggRequest's common fields (no message, no wait).
  v1::SecAggRequest SecAggRequestFor(const std::string& run_id,
                                     uint64_t round) const;
  static SecAggExchangeReply ReplyFromResponse(v1::SecAggResponse response);
  // DescribeRpcFailure with this channel's name and certificate verdict.
  absl::Status FromGrpc(const grpc::Status& status,
                        absl::string_view what) const;
  // Streams a header, then `num_values` values in chunks of kChunkValues;
  // `encode(offset, n, out)` writes values [offset, offset + n) into `out`;
  // an error from it cancels the stream (nothing partial is accepted).
  absl::Status PushStream(
      v1::ResultChunk header, size_t num_values,
      const std::function<absl::Status(size_t, size_t, std::string*)>& encode);

  const GrpcTransportOptions options_;
  // What FromGrpc needs to explain a failed TLS handshake (set by Create).
  std::string dialled_name_;
  absl::Status own_chain_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  // Random per instance: this process's session (RegisterRequest).
  const std::string session_id_;
  std::mutex mu_;
  std::set<grpc::ClientContext*> in_flight_;
  // FetchTaskAsync's and SecAggPollAsync's calls until their callback
  // returned.
  std::set<std::shared_ptr<grpc::ClientContext>> async_in_flight_;
  std::condition_variable async_done_;
  // The async calls' contexts that still exist. gRPC destroys a callback
  // (and with it the last reference to its context) only after it
  // returned, on its own thread: the destructor waits for every context to
  // be gone, so none is torn down after this transport and its channel
  // (a client exiting right after its last poll aborted in gRPC's
  // reference counting otherwise).
  struct LiveContexts {
    std::mutex mu;
    std::condition_variable gone;
    int count = 0;
  };
  // A context counted in live_contexts_ until it is destroyed.
  std::shared_ptr<grpc::ClientContext> NewAsyncContext();
  const std::shared_ptr<LiveContexts> live_contexts_ =
      std::make_shared<LiveContexts>();
  bool cancelled_ = false;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_GRPC_COORDINATOR_TRANSPORT_H_
