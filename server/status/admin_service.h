// The gRPC adapter of fedlearn.v1.Admin (proto/fedlearn/v1/admin.proto):
// answers an operator's GetStatus from a RunStatusTracker and the engine's
// StatusView, and nothing else.
//
// Who may call: every call is authorized before anything is read.
//   - Mutual TLS (the default): the peer's certificate must pass
//     ClientAuthorizer::AuthorizeOperator (role "operator", chains to the
//     CA, not revoked); a site certificate gets PERMISSION_DENIED saying an
//     operator certificate is needed, a revoked operator PERMISSION_DENIED
//     saying so, a peer without a certificate UNAUTHENTICATED. Each refusal
//     is recorded in the audit trail by the authorizer. Without an
//     authorizer every call is refused (fail closed).
//   - --insecure: there are no certificates, and every site is already
//     trusted on its word, so the status is served to any caller (it holds
//     counts and aggregates only); the first call logs a warning.
// Every admitted call spends a token of the caller's rate limit (the same
// per-identity rate and burst as the sites' RPCs, ServiceLimits), so a
// --watch loop or a script cannot make the coordinator work hard. A
// successful query is not audited: it reads, and --watch would flood the
// trail.
//
// Thread-safety: thread-safe; the tracker, engine and authorizer must
// outlive the service, and the service the gRPC server it is registered on.
#ifndef FEDLEARN_SERVER_STATUS_ADMIN_SERVICE_H_
#define FEDLEARN_SERVER_STATUS_ADMIN_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/util/clock.h"
#include "proto/fedlearn/v1/admin.grpc.pb.h"
#include "server/admission/rpc_rate_limiter.h"
#include "server/admission/service_limits.h"
#include "server/identity/client_authorizer.h"
#include "server/round/round_engine.h"
#include "server/status/run_status_tracker.h"

namespace fedlearn {

// The wire form of a status snapshot.
v1::GetStatusResponse ToProto(const RunStatus& status);

class AdminService final : public v1::Admin::Service {
 public:
  struct Options {
    bool insecure = false;
    // Decides who is an operator; required unless insecure. Not owned.
    ClientAuthorizer* authorizer = nullptr;
    // rpc_rate_per_second, rpc_burst, max_tracked_identities.
    ServiceLimits limits;
    const Clock* clock = nullptr;  // not owned; null: the system clock
  };

  // `engine` may be null: the tracker's hooks alone (tests).
  AdminService(const RunStatusTracker* tracker, const RoundEngine* engine,
               Options options);

  grpc::Status GetStatus(grpc::ServerContext* context,
                         const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;

 private:
  // The operator's id (its certificate CN; in insecure mode the peer
  // address), or why the caller may not use admin RPCs.
  absl::StatusOr<std::string> AuthorizeCaller(grpc::ServerContext* context);

  const RunStatusTracker* const tracker_;
  const RoundEngine* const engine_;
  const Options options_;
  SystemClock system_clock_;
  RpcRateLimiter rate_limiter_;
  std::atomic<bool> warned_insecure_{false};
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STATUS_ADMIN_SERVICE_H_
