// StreamServices: what the streaming reactors (ResultUploadReactor,
// TaskDownloadReactor) need from the service that creates them: the engine,
// the admission counters, the watchdog, the limits and the identity check.
// Owned by CoordinatorService, which outlives every reactor (the gRPC
// server is shut down before the service is destroyed).
#ifndef FEDLEARN_SERVER_STREAM_SERVICES_H_
#define FEDLEARN_SERVER_STREAM_SERVICES_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "server/admission/fetch_wait_list.h"
#include "server/admission/service_limits.h"
#include "server/admission/stream_admission.h"
#include "server/admission/stream_watchdog.h"
#include "server/metrics/coordinator_metrics.h"
#include "server/round/round_engine.h"
#include "server/round/update_buffer_pool.h"

namespace fedlearn {

struct StreamServices {
  RoundEngine* engine = nullptr;
  StreamAdmission* admission = nullptr;
  StreamWatchdog* watchdog = nullptr;
  // Long-polling FetchTask streams; null: every fetch answers at once.
  FetchWaitList* waits = nullptr;
  // Long-polling SecAggExchange calls (secagg_exchange_reactor.h); null:
  // every exchange answers at once.
  FetchWaitList* secagg_waits = nullptr;
  ServiceLimits limits;
  // Plaintext upload buffers, reused (update_buffer_pool.h); null: a new
  // buffer per upload.
  std::shared_ptr<UpdateBufferPool> upload_buffers;
  CoordinatorMetrics* metrics = nullptr;  // may be null
  // The caller's identity (certificate or, insecure, `claimed`), after the
  // per-identity rate limit: UNAUTHENTICATED, RESOURCE_EXHAUSTED or the id.
  std::function<absl::StatusOr<std::string>(grpc::ServerContextBase*,
                                            const std::string& claimed)>
      admit;
};

// Logs how a stream ended: refusals for load and clients that hung up at
// debug level, anything else as a warning; the message escaped and cut.
// `id` is empty before the stream named its client.
void LogStreamEnd(std::string_view what, const std::string& id,
                  const absl::Status& status);

// absl -> gRPC status (the canonical codes are numbered alike).
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STREAM_SERVICES_H_
