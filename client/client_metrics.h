// The client daemon's Prometheus metrics (names prefixed fedlearn_client_),
// fed by its session and transport through client/session_observer.h and
// served by common/metrics/metrics_http_server.h (--metrics-listen):
//
//   fedlearn_client_tasks_completed_total      updates delivered
//   fedlearn_client_tasks_refused_total{reason} tasks received, not completed
//   fedlearn_client_training_seconds_total     local training time
//   fedlearn_client_training_duration_seconds  histogram, one per training
//   fedlearn_client_sent_bytes_total / _received_bytes_total
//   fedlearn_client_secagg_rounds_total        updates securely aggregated
//   fedlearn_client_registrations_total        first one + re-registrations
//   fedlearn_client_state{state}               1 for the current state
//
// Guarantees: every label value comes from a fixed enum (TaskRefusal,
// SessionState), so the series are bounded; no metric carries an update, a
// key or anything the coordinator sent. Every series exists (at 0) from
// construction, so a scrape shows the full set at once.
// With record-level DP (constructed with record_dp = true) also
//   fedlearn_client_record_epsilon             the site's epsilon so far
// (client/training/record_dp_trainer.h); without it the series is absent.
// Thread-safety: every method is thread-safe (the registry's atomics).
#ifndef FEDLEARN_CLIENT_CLIENT_METRICS_H_
#define FEDLEARN_CLIENT_CLIENT_METRICS_H_

#include <atomic>
#include <vector>

#include "client/session_observer.h"
#include "common/metrics/metrics_registry.h"

namespace fedlearn {

class ClientMetrics : public SessionObserver, public TrafficObserver {
 public:
  // Registers the families in `registry` (which must outlive this and must
  // not hold them yet: a second ClientMetrics on it is a logic_error).
  explicit ClientMetrics(MetricsRegistry* registry, bool record_dp = false);

  void OnRegistered() override;
  void OnTrained(double seconds) override;
  void OnUpdateDelivered(bool secure) override;
  void OnTaskRefused(TaskRefusal reason) override;
  void OnState(SessionState state) override;
  void OnTraffic(uint64_t sent_bytes, uint64_t received_bytes) override;
  // The site's record-level epsilon after a training (ignored unless
  // constructed with record_dp).
  void OnRecordEpsilon(double epsilon);

  // Readiness (/readyz): registered with the coordinator, i.e. the last
  // state reported is not kPreparing.
  bool registered() const { return registered_.load(); }

 private:
  Counter& completed_;
  CounterFamily& refused_;
  Counter& training_seconds_;
  Histogram& training_duration_;
  Counter& sent_bytes_;
  Counter& received_bytes_;
  Counter& secagg_rounds_;
  Counter& registrations_;
  GaugeFamily& state_;
  Gauge* record_epsilon_ = nullptr;
  std::atomic<bool> registered_{false};
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_CLIENT_METRICS_H_
