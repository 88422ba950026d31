// The coordinator's Prometheus metrics (all named fedlearn_*): a
// MetricsRegistry fed by the round engine, as a RoundListener, and by the
// transport, through the Count* hooks; served by MetricsHttpServer
// (common/metrics/metrics_http_server.h). docs/operations.md lists every
// metric with its labels.
//
// Guarantees: no metric carries an update, a key, a client id or anything a
// client sent. Every label value comes from a fixed set chosen here: rpc
// (the RPC's name), reason (RejectionReason()), phase (the engine's phase
// names), and run_id/aggregation/dp of fedlearn_run_info (the operator's
// configuration). Each family is also capped by the registry.
//
// Thread-safety: thread-safe. OnPhaseStarted is called with the engine's
// lock held and only takes this object's own short lock; no method calls
// back into the engine.
#ifndef FEDLEARN_SERVER_METRICS_COORDINATOR_METRICS_H_
#define FEDLEARN_SERVER_METRICS_COORDINATOR_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "common/metrics/metrics_registry.h"
#include "common/util/clock.h"
#include "google/protobuf/message_lite.h"
#include "server/round/round_engine.h"
#include "server/round/round_types.h"

namespace fedlearn {

class CoordinatorMetrics final : public RoundListener {
 public:
  struct Options {
    std::string run_id;
    int num_rounds = 0;
    bool secure_aggregation = false;
    std::string dp_mode = "off";  // DpModeName(): off, central, distributed
    // [evaluation] every > 0 (or the evaluation-only job): the federated
    // evaluation gauges are registered.
    bool federated_evaluation = false;
    // Phase durations are measured on it; null: the system clock. Not owned.
    const Clock* clock = nullptr;
  };

  explicit CoordinatorMetrics(Options options);

  const MetricsRegistry& registry() const { return registry_; }

  // RoundListener: rounds, attempts, phases, cohorts, privacy, evaluation.
  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override;
  void OnRoundRetried(uint64_t round, int attempt,
                      const std::string& reason) override;
  absl::Status OnEvaluationCompleted(
      const FederatedEvalSummary& summary) override;
  void OnRunEnded(const absl::Status& outcome) override;
  void OnRoundStarted(uint64_t round, int attempt,
                      const std::vector<std::string>& cohort) override;
  void OnClientBlamed(uint64_t round, int attempt, const std::string& client_id,
                      const std::string& reason) override;
  void OnPhaseStarted(uint64_t round, int attempt,
                      const std::string& phase) override;

  // What only the engine knows now (clients registered and live, the
  // privacy budget); the coordinator calls it before each scrape.
  void ObserveStatus(const RoundEngine::StatusView& status);

  // Transport: payload bytes (serialized messages) of `rpc`, one of the
  // Coordinator service's method names.
  void CountReceived(const char* rpc, size_t bytes);
  void CountSent(const char* rpc, size_t bytes);
  // An upload (update or masked input) that ended with `why` (not OK).
  void CountRejectedUpload(const absl::Status& why);

  // The bounded reason label of a refused upload: malformed, stale,
  // not_selected, duplicate, unregistered, unauthenticated, overloaded,
  // timeout, cancelled or other.
  static const char* RejectionReason(const absl::Status& why);

 private:
  // Ends the timed phase, if any, into the phase histogram.
  void EndPhaseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The series of `family` for `rpc`, looked up once per RPC name and then
  // read from `cache` without a lock (bytes are counted per message and
  // per chunk; WithLabels locks the family). Names outside the service's
  // method list take WithLabels each time.
  static constexpr int kRpcCount = 7;
  using RpcSeries = std::array<std::atomic<Counter*>, kRpcCount>;
  static Counter& SeriesFor(CounterFamily& family, RpcSeries& cache,
                            const char* rpc);

  SystemClock system_clock_;
  const Clock* const clock_;
  MetricsRegistry registry_;
  Counter& rounds_completed_;
  Counter& attempts_started_;
  Counter& attempts_failed_;
  Gauge& current_round_;
  Gauge& model_version_;
  Gauge& run_finished_;
  Gauge& run_failed_;
  Histogram& round_seconds_;
  HistogramFamily& phase_seconds_;
  Gauge& clients_registered_;
  Gauge& clients_live_;
  Gauge& clients_selected_;
  Gauge& clients_participating_;
  Gauge& clients_dropped_;
  Counter& updates_accepted_;
  Counter& dropouts_;
  Counter& clients_blamed_;
  CounterFamily& updates_rejected_;
  CounterFamily& received_bytes_;
  CounterFamily& sent_bytes_;
  RpcSeries received_by_rpc_{};
  RpcSeries sent_by_rpc_{};
  Gauge& train_loss_;
  Gauge& test_accuracy_;
  Gauge& test_loss_;
  // DP runs only (null otherwise): not registered, so never shown as 0.
  Gauge* epsilon_spent_ = nullptr;
  Gauge* epsilon_budget_ = nullptr;
  Gauge* delta_ = nullptr;
  Gauge* clip_norm_ = nullptr;
  Gauge* noise_multiplier_ = nullptr;
  // Federated evaluation runs only (null otherwise).
  Gauge* federated_accuracy_ = nullptr;
  Gauge* federated_accuracy_min_ = nullptr;
  Gauge* federated_sites_ = nullptr;
  void ObserveFederatedEval(const FederatedEvalSummary& summary);

  std::mutex mu_;
  std::string phase_ ABSL_GUARDED_BY(mu_);  // "" when no attempt is open
  TimePoint phase_started_ ABSL_GUARDED_BY(mu_);
  bool attempt_open_ ABSL_GUARDED_BY(mu_) = false;
};

// Counts one unary RPC's request now and its response when it goes out of
// scope (after the handler filled it). `metrics` may be null.
class CountedRpc {
 public:
  CountedRpc(CoordinatorMetrics* metrics, const char* rpc,
             const google::protobuf::MessageLite& request,
             const google::protobuf::MessageLite& response);
  ~CountedRpc();
  CountedRpc(const CountedRpc&) = delete;
  CountedRpc& operator=(const CountedRpc&) = delete;

 private:
  CoordinatorMetrics* const metrics_;
  const char* const rpc_;
  const google::protobuf::MessageLite& response_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_METRICS_COORDINATOR_METRICS_H_
