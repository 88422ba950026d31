// The gRPC adapter: translates fedlearn.v1.Coordinator RPCs into RoundEngine
// calls and nothing more. Identity comes from the client's TLS certificate
// (its common name); only in --insecure mode is the claimed id used.
//
// Defensive by construction (docs/security.md, "Message discipline"):
//   - the two streaming RPCs run on gRPC's callback API
//     (ResultUploadReactor, TaskDownloadReactor): a silent stream holds no
//     thread, and one StreamWatchdog ends streams idle for
//     limits.stream_idle_timeout or older than limits.stream_deadline;
//   - upload buffers (limits.max_concurrent_uploads) are granted only after
//     the identity and the engine's permission (CheckMayUpload), and never
//     waited for: a busy coordinator answers RESOURCE_EXHAUSTED with a retry
//     hint;
//   - every RPC spends a token of its identity's rate limit, streams per
//     identity and in total are capped, messages per stream and bytes per
//     message are bounded (the last by the gRPC server, StartGrpcServer);
//   - payload sizes are checked against the model before anything is
//     allocated, malformed streams end in a clear status, and client text
//     reaches logs and errors escaped and truncated.
// The unary RPCs stay on the synchronous API: gRPC dispatches them only once
// the whole (size-bounded) request has arrived, so a client cannot make one
// hold a thread by going quiet; each holds one for an engine call only.
// SecAggExchange is the exception: it runs on the callback API
// (SecAggExchangeReactor), so a long-polling exchange waiting for the next
// phase holds no thread (limits.max_waiting_secagg_exchanges bounds them).
//
// Thread-safety: all RPCs may run concurrently. The service must outlive
// the gRPC server it is registered with (shut the server down first).
#ifndef FEDLEARN_SERVER_COORDINATOR_SERVICE_H_
#define FEDLEARN_SERVER_COORDINATOR_SERVICE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/util/clock.h"
#include "proto/fedlearn/v1/fedlearn.grpc.pb.h"
#include "server/admission/fetch_wait_list.h"
#include "server/admission/rpc_rate_limiter.h"
#include "server/admission/service_limits.h"
#include "server/admission/stream_admission.h"
#include "server/admission/stream_watchdog.h"
#include "server/audit/audit_sink.h"
#include "server/identity/client_authorizer.h"
#include "server/metrics/coordinator_metrics.h"
#include "server/round/round_engine.h"
#include "server/secagg_exchange_reactor.h"
#include "server/stream_services.h"
#include "server/task_download_reactor.h"

namespace fedlearn {

// Sync unary RPCs; callback FetchTask and SecAggExchange (long polls), and
// PushResult raw (its chunks are read in place from gRPC's slices:
// result_upload_reactor.h).
using CoordinatorServiceBase = v1::Coordinator::WithCallbackMethod_FetchTask<
    v1::Coordinator::WithCallbackMethod_SecAggExchange<
        v1::Coordinator::WithRawCallbackMethod_PushResult<
            v1::Coordinator::Service>>>;

class CoordinatorService final : public CoordinatorServiceBase {
 public:
  struct Options {
    bool insecure = false;
    uint32_t heartbeat_interval_ms = 10'000;
    // Where joins and refusals are recorded; null: nowhere. Not owned.
    AuditSink* audit = nullptr;
    // Who may call (certificate checks, roles, enrolment, revocation); null:
    // any well-formed site certificate the TLS handshake accepted (tests).
    // Ignored when insecure. Not owned.
    ClientAuthorizer* authorizer = nullptr;
    // Sizes, streams, rates and deadlines (limits.max_concurrent_uploads is
    // the former max_concurrent_uploads).
    ServiceLimits limits;
    // Time for rate limits and stream deadlines; null: the system clock.
    // Not owned.
    const Clock* clock = nullptr;
    // False: no watchdog thread; the owner calls SweepStreams() (tests).
    bool run_watchdog = true;
    // Counts payload bytes per RPC and refused uploads; null: none. Not
    // owned.
    CoordinatorMetrics* metrics = nullptr;
  };

  CoordinatorService(RoundEngine* engine, Options options);
  ~CoordinatorService() override;

  grpc::Status GetContract(grpc::ServerContext* context,
                           const v1::GetContractRequest* request,
                           v1::GetContractResponse* response) override;
  grpc::Status Leave(grpc::ServerContext* context,
                     const v1::LeaveRequest* request,
                     v1::LeaveResponse* response) override;
  grpc::Status Register(grpc::ServerContext* context,
                        const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override;
  grpc::ServerWriteReactor<v1::TaskChunk>* FetchTask(
      grpc::CallbackServerContext* context,
      const v1::FetchTaskRequest* request) override;
  grpc::ServerReadReactor<grpc::ByteBuffer>* PushResult(
      grpc::CallbackServerContext* context,
      grpc::ByteBuffer* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* SecAggExchange(
      grpc::CallbackServerContext* context, const v1::SecAggRequest* request,
      v1::SecAggResponse* response) override;

  const ServiceLimits& limits() const { return options_.limits; }
  // Streams open now (each counted from its first byte).
  int open_streams() const { return admission_.open_streams(); }
  // Ends expired streams now; returns how many.
  int SweepStreams() { return watchdog_.Sweep(); }
  // Long-polling FetchTask streams waiting for a task now.
  size_t waiting_fetches() const { return fetch_waits_.waiting(); }
  // Serves due fetch waits now (tests without the background threads).
  int RunFetchWaits() { return fetch_waits_.RunDue(); }
  // Long-polling SecAggExchange calls waiting for their next phase now.
  size_t waiting_secagg_exchanges() const { return secagg_waits_.waiting(); }
  // Serves due secure-aggregation waits now (tests without the threads).
  int RunSecAggWaits() { return secagg_waits_.RunDue(); }
  // Answers every waiting fetch and secure-aggregation exchange now and
  // takes no more waits (shutdown: call before the gRPC server's Shutdown
  // so no call waits it out).
  void EndFetchWaits() {
    fetch_waits_.Close();
    secagg_waits_.Close();
  }

 private:
  absl::StatusOr<std::string> ClientIdentity(grpc::ServerContextBase* context,
                                             const std::string& claimed) const;
  // ClientIdentity, then one token of that identity's rate limit.
  absl::StatusOr<std::string> AdmitRpc(grpc::ServerContextBase* context,
                                       const std::string& claimed);
  // The "join" audit record of a successful Register.
  void RecordJoin(const std::string& client_id, uint64_t num_examples) const;
  v1::RoundRef CurrentRef() const;

  RoundEngine* const engine_;
  const Options options_;
  std::unique_ptr<Clock> own_clock_;  // when options_.clock is null
  const Clock* const clock_;
  RpcRateLimiter rate_limiter_;
  StreamAdmission admission_;
  StreamWatchdog watchdog_;
  FetchWaitList fetch_waits_;
  TaskWaitNotifier wait_notifier_{&fetch_waits_};
  FetchWaitList secagg_waits_;
  SecAggWaitNotifier secagg_notifier_{&secagg_waits_};
  StreamServices streams_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_SERVICE_H_
