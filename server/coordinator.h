// Assembles a running coordinator from its configuration: resumes from the
// state directory's checkpoint (or starts from the given initial model),
// wires the round engine to the run store and the gRPC service, and listens.
// Shared by the fedlearn-coordinator and fedlearn-sim binaries; it includes
// neither LibTorch nor data loading, which its callers provide.
#ifndef FEDLEARN_SERVER_COORDINATOR_H_
#define FEDLEARN_SERVER_COORDINATOR_H_

#include <atomic>
#include <memory>

#include "absl/status/statusor.h"
#include "common/metrics/metrics_http_server.h"
#include "server/audit/audit_log.h"
#include "server/audit/auditing_round_listener.h"
#include "server/coordinator_config.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "server/identity/client_authorizer.h"
#include "server/identity/identity_reloader.h"
#include "server/metrics/coordinator_metrics.h"
#include "server/round/model_evaluator.h"
#include "server/round/round_engine.h"
#include "server/run_store.h"
#include "server/status/admin_service.h"
#include "server/status/run_status_tracker.h"

namespace fedlearn {

// Prints one line per round to stdout (the demo's progress output).
class RoundProgressPrinter : public RoundListener {
 public:
  explicit RoundProgressPrinter(int num_rounds) : num_rounds_(num_rounds) {}
  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override;
  void OnRoundRetried(uint64_t round, int attempt,
                      const std::string& reason) override;
  // An evaluation-only round: "... evaluation of model version R | sites
  // ..." (federated_evaluation.h DescribeEvalStatistics).
  absl::Status OnEvaluationCompleted(
      const FederatedEvalSummary& summary) override;

 private:
  const int num_rounds_;
};

class Coordinator {
 public:
  // `initial` is used only when the state directory holds no checkpoint of
  // the same run. `evaluator` may be null.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(
      const CoordinatorConfig& config, FlatModel initial,
      std::unique_ptr<ModelEvaluator> evaluator);

  ~Coordinator();
  // Why an OK run ended before its last round (e.g. the privacy budget).
  std::string finished_reason() const;
  // The latest global model's version (= rounds completed in the run).
  uint64_t model_version() const;

  int port() const { return server_.port; }
  // The Prometheus endpoint ([metrics] listen): its bound port, 0 when off;
  // "http://HOST:PORT/metrics", "" when off.
  int metrics_port() const;
  std::string metrics_url() const;
  RoundEngine& engine() { return *engine_; }
  FileRunStore& store() { return *store_; }
  void AddListener(RoundListener* listener) { engine_->AddListener(listener); }

  // Runs rounds until the run ends or `stop` is set; then, with the metrics
  // endpoint on, keeps serving it for [metrics] linger_s (or until `stop`).
  absl::Status Run(const std::atomic<bool>& stop);
  // Stops accepting RPCs (in-flight ones get a short grace period).
  void Shutdown();

 private:
  Coordinator() = default;
  // Builds authorizer_ from [security] and the CA file (mutual TLS only).
  absl::Status StartAuthorizer(const CoordinatorConfig& config);
  // Builds status_tracker_ (listening to engine_) and admin_service_.
  void StartAdminService(const CoordinatorConfig& config, uint64_t start_round,
                         const ServiceLimits& limits);
  // Keeps it current (enrolment file, CRL, SIGHUP); evicts from engine_.
  void StartIdentityReloader(const CoordinatorConfig& config);
  // [metrics] listen set: metrics_ (an engine listener), before the service
  // that counts into it; then, once the gRPC server listens, the endpoint.
  void CreateMetrics(const CoordinatorConfig& config);
  absl::Status StartMetricsEndpoint(const CoordinatorConfig& config);
  // After the run: [metrics] linger_s with the endpoint on, or until `stop`.
  void LingerForScrapes(const std::atomic<bool>& stop) const;

  SystemClock clock_;
  std::unique_ptr<ModelEvaluator> evaluator_;
  std::unique_ptr<FileRunStore> store_;
  // Before engine_ and service_, which point at them.
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<AuditingRoundListener> audit_listener_;
  // Null when [metrics] is off; before engine_ and service_ (they point at
  // it). metrics_server_ calls into both: stopped first (~Coordinator).
  std::unique_ptr<CoordinatorMetrics> metrics_;
  std::unique_ptr<MetricsHttpServer> metrics_server_;
  std::string metrics_host_;
  Duration metrics_linger_{0};
  // The gRPC server listens and Shutdown() was not called (/readyz).
  std::atomic<bool> serving_{false};
  // Who may call (null when insecure); before service_, which points at it.
  std::unique_ptr<ClientAuthorizer> authorizer_;
  // What fedlearn-status shows (a listener of engine_); before engine_.
  std::unique_ptr<RunStatusTracker> status_tracker_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<CoordinatorService> service_;
  // The operators' Admin RPCs, on the same port as service_.
  std::unique_ptr<AdminService> admin_service_;
  // After engine_: stopped before the engine it evicts from goes.
  std::unique_ptr<IdentityReloader> identity_reloader_;
  RunningServer server_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_H_
