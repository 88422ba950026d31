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
#include "server/audit/audit_log.h"
#include "server/audit/auditing_round_listener.h"
#include "server/coordinator_config.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "server/identity/client_authorizer.h"
#include "server/identity/identity_reloader.h"
#include "server/round/model_evaluator.h"
#include "server/round/round_engine.h"
#include "server/run_store.h"

namespace fedlearn {

// Prints one line per round to stdout (the demo's progress output).
class RoundProgressPrinter : public RoundListener {
 public:
  explicit RoundProgressPrinter(int num_rounds) : num_rounds_(num_rounds) {}
  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override;
  void OnRoundRetried(uint64_t round, int attempt,
                      const std::string& reason) override;

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
  RoundEngine& engine() { return *engine_; }
  FileRunStore& store() { return *store_; }
  void AddListener(RoundListener* listener) { engine_->AddListener(listener); }

  // Runs rounds until the run ends or `stop` is set.
  absl::Status Run(const std::atomic<bool>& stop);
  // Stops accepting RPCs (in-flight ones get a short grace period).
  void Shutdown();

 private:
  Coordinator() = default;
  // Builds authorizer_ from [security] and the CA file (mutual TLS only).
  absl::Status StartAuthorizer(const CoordinatorConfig& config);
  // Keeps it current (enrolment file, CRL, SIGHUP); evicts from engine_.
  void StartIdentityReloader(const CoordinatorConfig& config);

  SystemClock clock_;
  std::unique_ptr<ModelEvaluator> evaluator_;
  std::unique_ptr<FileRunStore> store_;
  // Before engine_ and service_, which point at them.
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<AuditingRoundListener> audit_listener_;
  // Who may call (null when insecure); before service_, which points at it.
  std::unique_ptr<ClientAuthorizer> authorizer_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<CoordinatorService> service_;
  // After engine_: stopped before the engine it evicts from goes.
  std::unique_ptr<IdentityReloader> identity_reloader_;
  RunningServer server_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_COORDINATOR_H_
