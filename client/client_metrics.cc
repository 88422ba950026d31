#include "client/client_metrics.h"

namespace fedlearn {

ClientMetrics::ClientMetrics(MetricsRegistry* registry, bool record_dp)
    : completed_(registry
                     ->AddCounter("fedlearn_client_tasks_completed_total",
                                  "Tasks whose update reached the "
                                  "coordinator (plain or secure).")
                     .Get()),
      refused_(registry->AddCounter(
          "fedlearn_client_tasks_refused_total",
          "Tasks received but not completed, by reason: privacy_floor, "
          "contract_mismatch, stale, training_error, coordinator_refused, "
          "other.",
          {"reason"})),
      training_seconds_(
          registry
              ->AddCounter("fedlearn_client_training_seconds_total",
                           "Seconds spent in local training.")
              .Get()),
      training_duration_(
          registry
              ->AddHistogram("fedlearn_client_training_duration_seconds",
                             "Duration of each local training.",
                             ExponentialBuckets(0.01, 2, 17))
              .Get()),
      sent_bytes_(registry
                      ->AddCounter("fedlearn_client_sent_bytes_total",
                                   "Message bytes sent to the coordinator "
                                   "(protobuf payloads, without framing).")
                      .Get()),
      received_bytes_(
          registry
              ->AddCounter("fedlearn_client_received_bytes_total",
                           "Message bytes received from the coordinator "
                           "(protobuf payloads, without framing).")
              .Get()),
      secagg_rounds_(registry
                         ->AddCounter("fedlearn_client_secagg_rounds_total",
                                      "Rounds whose update this client "
                                      "delivered through secure aggregation.")
                         .Get()),
      registrations_(
          registry
              ->AddCounter("fedlearn_client_registrations_total",
                           "Successful registrations with the coordinator; "
                           "more than one means it re-registered (a "
                           "restarted coordinator or a new contract).")
              .Get()),
      state_(registry->AddGauge(
          "fedlearn_client_state",
          "1 for the daemon's current state (preparing, idle, training, "
          "uploading), 0 for the others.",
          {"state"})) {
  for (TaskRefusal reason : kAllTaskRefusals) {
    refused_.WithLabels({TaskRefusalName(reason)});
  }
  OnState(SessionState::kPreparing);
  if (record_dp) {
    record_epsilon_ =
        &registry
             ->AddGauge("fedlearn_client_record_epsilon",
                        "Record-level epsilon this site has spent on its "
                        "records (DP-SGD, at the site's delta).")
             .Get();
  }
}

void ClientMetrics::OnRecordEpsilon(double epsilon) {
  if (record_epsilon_ != nullptr) record_epsilon_->Set(epsilon);
}

void ClientMetrics::OnRegistered() { registrations_.Increment(); }

void ClientMetrics::OnTrained(double seconds) {
  training_seconds_.Increment(seconds);
  training_duration_.Observe(seconds);
}

void ClientMetrics::OnUpdateDelivered(bool secure) {
  completed_.Increment();
  if (secure) secagg_rounds_.Increment();
}

void ClientMetrics::OnTaskRefused(TaskRefusal reason) {
  refused_.WithLabels({TaskRefusalName(reason)}).Increment();
}

void ClientMetrics::OnState(SessionState state) {
  for (SessionState s : kAllSessionStates) {
    state_.WithLabels({SessionStateName(s)}).Set(s == state ? 1 : 0);
  }
  registered_.store(state != SessionState::kPreparing);
}

void ClientMetrics::OnTraffic(uint64_t sent_bytes, uint64_t received_bytes) {
  sent_bytes_.Increment(static_cast<double>(sent_bytes));
  received_bytes_.Increment(static_cast<double>(received_bytes));
}

}  // namespace fedlearn
