#include "server/metrics/coordinator_metrics.h"

#include <array>
#include <cmath>
#include <limits>
#include <string_view>

namespace fedlearn {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Gauges that have no value until a round says so show NaN, not 0.
Gauge& Unset(Gauge& gauge) {
  gauge.Set(kNaN);
  return gauge;
}

}  // namespace

CoordinatorMetrics::CoordinatorMetrics(Options options)
    : clock_(options.clock != nullptr ? options.clock : &system_clock_),
      rounds_completed_(
          registry_
              .AddCounter("fedlearn_rounds_completed_total",
                          "Rounds released (aggregated, persisted) by this "
                          "process.")
              .Get()),
      attempts_started_(registry_
                            .AddCounter("fedlearn_round_attempts_started_total",
                                        "Round attempts opened (a cohort was "
                                        "selected).")
                            .Get()),
      attempts_failed_(
          registry_
              .AddCounter("fedlearn_round_attempts_failed_total",
                          "Round attempts that released nothing (retried, or "
                          "the run failed).")
              .Get()),
      current_round_(
          registry_
              .AddGauge("fedlearn_current_round",
                        "The round being run (of the last opened attempt).")
              .Get()),
      model_version_(registry_
                         .AddGauge("fedlearn_model_version",
                                   "Version of the latest global model "
                                   "(= rounds completed in the run).")
                         .Get()),
      run_finished_(registry_
                        .AddGauge("fedlearn_run_finished",
                                  "1 once the run ended successfully.")
                        .Get()),
      run_failed_(
          registry_.AddGauge("fedlearn_run_failed", "1 once the run failed.")
              .Get()),
      round_seconds_(
          registry_
              .AddHistogram("fedlearn_round_duration_seconds",
                            "Seconds from a released round's (last) attempt "
                            "start to its aggregated, evaluated model.",
                            ExponentialBuckets(0.5, 2, 14))
              .Get()),
      phase_seconds_(registry_.AddHistogram(
          "fedlearn_round_phase_duration_seconds",
          "Seconds an attempt spent in each phase (Training, the "
          "secure-aggregation phases, Releasing).",
          ExponentialBuckets(0.01, 2, 18), {"phase"}, 8)),
      clients_registered_(
          registry_
              .AddGauge("fedlearn_clients_registered",
                        "Clients that registered with this process.")
              .Get()),
      clients_live_(registry_
                        .AddGauge("fedlearn_clients_live",
                                  "Registered clients heard from recently and "
                                  "not departed.")
                        .Get()),
      clients_selected_(registry_
                            .AddGauge("fedlearn_clients_selected",
                                      "Cohort size of the last opened attempt.")
                            .Get()),
      clients_participating_(
          registry_
              .AddGauge("fedlearn_clients_participating",
                        "Contributions in the last released round's aggregate.")
              .Get()),
      clients_dropped_(
          registry_
              .AddGauge("fedlearn_clients_dropped",
                        "Selected clients of the last released round whose "
                        "update is not in its aggregate.")
              .Get()),
      updates_accepted_(registry_
                            .AddCounter("fedlearn_updates_aggregated_total",
                                        "Client contributions in released "
                                        "aggregates.")
                            .Get()),
      dropouts_(registry_
                    .AddCounter("fedlearn_client_dropouts_total",
                                "Selected clients missing from released "
                                "aggregates.")
                    .Get()),
      clients_blamed_(
          registry_
              .AddCounter("fedlearn_clients_excluded_total",
                          "Clients excluded from a round's later attempts "
                          "(bad key advertisement, secure-aggregation blame).")
              .Get()),
      updates_rejected_(registry_.AddCounter(
          "fedlearn_updates_rejected_total",
          "Uploads (updates, masked inputs) refused, by reason.", {"reason"},
          12)),
      received_bytes_(registry_.AddCounter(
          "fedlearn_rpc_received_bytes_total",
          "Payload bytes received (serialized requests, upload chunks).",
          {"rpc"}, 16)),
      sent_bytes_(registry_.AddCounter(
          "fedlearn_rpc_sent_bytes_total",
          "Payload bytes sent (serialized responses, task chunks).", {"rpc"},
          16)),
      train_loss_(Unset(registry_
                            .AddGauge("fedlearn_train_loss",
                                      "Example-weighted client training loss "
                                      "of the last released round "
                                      "(not in DP rounds).")
                            .Get())),
      test_accuracy_(Unset(registry_
                               .AddGauge("fedlearn_test_accuracy",
                                         "Server-side test accuracy (0..1) of "
                                         "the latest global model.")
                               .Get())),
      test_loss_(Unset(registry_
                           .AddGauge("fedlearn_test_loss",
                                     "Server-side test loss of the latest "
                                     "global model.")
                           .Get())) {
  registry_
      .AddGauge("fedlearn_run_info",
                "The run this coordinator serves (value 1).",
                {"run_id", "aggregation", "dp"}, 1)
      .WithLabels({options.run_id,
                   options.secure_aggregation ? "secure" : "plain",
                   options.dp_mode})
      .Set(1);
  registry_.AddGauge("fedlearn_rounds_configured", "Rounds the run asks for.")
      .Get()
      .Set(options.num_rounds);
  if (options.federated_evaluation) {
    federated_accuracy_ = &Unset(
        registry_
            .AddGauge("fedlearn_federated_accuracy",
                      "Example-weighted accuracy (0..1) on the sites' held-out "
                      "splits, latest federated evaluation.")
            .Get());
    federated_accuracy_min_ = &Unset(
        registry_
            .AddGauge("fedlearn_federated_accuracy_min",
                      "Lowest site accuracy (0..1), latest federated "
                      "evaluation (to the histogram's resolution under secure "
                      "aggregation).")
            .Get());
    federated_sites_ = &Unset(
        registry_
            .AddGauge("fedlearn_federated_sites",
                      "Sites counted in the latest federated evaluation.")
            .Get());
  }
  if (options.dp_mode == "off") return;
  epsilon_spent_ = &registry_
                        .AddGauge("fedlearn_dp_epsilon_spent",
                                  "Client-level epsilon spent after the last "
                                  "round released by this process.")
                        .Get();
  epsilon_budget_ = &registry_
                         .AddGauge("fedlearn_dp_epsilon_budget",
                                   "The run's epsilon budget (0: none).")
                         .Get();
  delta_ = &registry_.AddGauge("fedlearn_dp_delta", "The run's delta.").Get();
  clip_norm_ = &Unset(registry_
                          .AddGauge("fedlearn_dp_clip_norm",
                                    "Clip norm in effect for the next round "
                                    "(adaptive clipping moves it).")
                          .Get());
  noise_multiplier_ =
      &Unset(registry_
                 .AddGauge("fedlearn_dp_noise_multiplier",
                           "Noise multiplier of the last released round.")
                 .Get());
}

void CoordinatorMetrics::EndPhaseLocked() {
  if (phase_.empty()) return;
  const double seconds =
      std::chrono::duration<double>(clock_->Now() - phase_started_).count();
  phase_seconds_.WithLabels({phase_}).Observe(seconds);
  phase_.clear();
}

void CoordinatorMetrics::OnPhaseStarted(uint64_t round, int attempt,
                                        const std::string& phase) {
  std::lock_guard<std::mutex> lock(mu_);
  EndPhaseLocked();
  phase_ = phase;
  phase_started_ = clock_->Now();
}

void CoordinatorMetrics::OnRoundStarted(
    uint64_t round, int attempt, const std::vector<std::string>& cohort) {
  attempts_started_.Increment();
  current_round_.Set(static_cast<double>(round));
  clients_selected_.Set(static_cast<double>(cohort.size()));
  std::lock_guard<std::mutex> lock(mu_);
  attempt_open_ = true;
}

absl::Status CoordinatorMetrics::OnRoundCompleted(const RoundSummary& s,
                                                  const FlatModel& global) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    EndPhaseLocked();
    attempt_open_ = false;
  }
  rounds_completed_.Increment();
  model_version_.Set(static_cast<double>(s.model_version));
  round_seconds_.Observe(s.seconds);
  clients_participating_.Set(s.participants);
  clients_dropped_.Set(static_cast<double>(s.dropped.size()));
  updates_accepted_.Increment(s.participants);
  dropouts_.Increment(static_cast<double>(s.dropped.size()));
  // DP rounds report no training loss (no noise protects it).
  train_loss_.Set(s.dp ? kNaN : s.train_loss);
  if (s.eval) {
    test_accuracy_.Set(s.eval->accuracy);
    test_loss_.Set(s.eval->loss);
  }
  if (s.federated_eval) ObserveFederatedEval(*s.federated_eval);
  if (s.dp && epsilon_spent_ != nullptr) {
    epsilon_spent_->Set(s.dp->epsilon);
    delta_->Set(s.dp->delta);
    clip_norm_->Set(s.dp->state.clip_norm > 0 ? s.dp->state.clip_norm
                                              : s.dp->clip_norm);
    noise_multiplier_->Set(s.dp->noise_multiplier);
  }
  return absl::OkStatus();
}

absl::Status CoordinatorMetrics::OnEvaluationCompleted(
    const FederatedEvalSummary& summary) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    EndPhaseLocked();
    attempt_open_ = false;
  }
  ObserveFederatedEval(summary);
  return absl::OkStatus();
}

void CoordinatorMetrics::ObserveFederatedEval(const FederatedEvalSummary& s) {
  if (federated_accuracy_ == nullptr) return;
  federated_accuracy_->Set(s.stats.examples > 0 ? s.stats.accuracy : kNaN);
  federated_accuracy_min_->Set(s.stats.sites > 0 ? s.stats.accuracy_spread.min
                                                 : kNaN);
  federated_sites_->Set(static_cast<double>(s.stats.sites));
}

void CoordinatorMetrics::OnRoundRetried(uint64_t round, int attempt,
                                        const std::string& reason) {
  attempts_failed_.Increment();
  std::lock_guard<std::mutex> lock(mu_);
  EndPhaseLocked();
  attempt_open_ = false;
}

void CoordinatorMetrics::OnRunEnded(const absl::Status& outcome) {
  bool open = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    EndPhaseLocked();
    open = attempt_open_;
    attempt_open_ = false;
  }
  if (outcome.ok()) {
    run_finished_.Set(1);
  } else if (!absl::IsCancelled(outcome)) {
    run_failed_.Set(1);
    if (open) attempts_failed_.Increment();  // the attempt that ended it
  }
}

void CoordinatorMetrics::OnClientBlamed(uint64_t round, int attempt,
                                        const std::string& client_id,
                                        const std::string& reason) {
  clients_blamed_.Increment();
}

void CoordinatorMetrics::ObserveStatus(const RoundEngine::StatusView& status) {
  clients_registered_.Set(static_cast<double>(status.registered));
  clients_live_.Set(static_cast<double>(status.live));
  if (status.dp && epsilon_budget_ != nullptr) {
    epsilon_budget_->Set(status.epsilon_budget);
    delta_->Set(status.delta);
  }
}

Counter& CoordinatorMetrics::SeriesFor(CounterFamily& family, RpcSeries& cache,
                                       const char* rpc) {
  static constexpr std::array<std::string_view, kRpcCount> kRpcNames = {
      "Register",       "GetContract", "Leave",     "Heartbeat",
      "SecAggExchange", "FetchTask",   "PushResult"};
  for (int i = 0; i < kRpcCount; ++i) {
    if (kRpcNames[i] != rpc) continue;
    Counter* series = cache[i].load(std::memory_order_acquire);
    if (series == nullptr) {
      series = &family.WithLabels({rpc});  // stable for the registry's life
      cache[i].store(series, std::memory_order_release);
    }
    return *series;
  }
  return family.WithLabels({rpc});
}

void CoordinatorMetrics::CountReceived(const char* rpc, size_t bytes) {
  SeriesFor(received_bytes_, received_by_rpc_, rpc)
      .Increment(static_cast<double>(bytes));
}

void CoordinatorMetrics::CountSent(const char* rpc, size_t bytes) {
  SeriesFor(sent_bytes_, sent_by_rpc_, rpc)
      .Increment(static_cast<double>(bytes));
}

void CoordinatorMetrics::CountRejectedUpload(const absl::Status& why) {
  if (why.ok()) return;
  updates_rejected_.WithLabels({RejectionReason(why)}).Increment();
}

const char* CoordinatorMetrics::RejectionReason(const absl::Status& why) {
  switch (why.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kDataLoss:
      return "malformed";
    case absl::StatusCode::kFailedPrecondition:
      return "stale";  // another round, model version or phase
    case absl::StatusCode::kPermissionDenied:
      return "not_selected";
    case absl::StatusCode::kAlreadyExists:
      return "duplicate";
    case absl::StatusCode::kNotFound:
      return "unregistered";
    case absl::StatusCode::kUnauthenticated:
      return "unauthenticated";
    case absl::StatusCode::kResourceExhausted:
      return "overloaded";
    case absl::StatusCode::kDeadlineExceeded:
      return "timeout";
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnavailable:
      return "cancelled";
    default:
      return "other";
  }
}

CountedRpc::CountedRpc(CoordinatorMetrics* metrics, const char* rpc,
                       const google::protobuf::MessageLite& request,
                       const google::protobuf::MessageLite& response)
    : metrics_(metrics), rpc_(rpc), response_(response) {
  if (metrics_ != nullptr)
    metrics_->CountReceived(rpc_, request.ByteSizeLong());
}

CountedRpc::~CountedRpc() {
  if (metrics_ != nullptr) metrics_->CountSent(rpc_, response_.ByteSizeLong());
}

}  // namespace fedlearn
