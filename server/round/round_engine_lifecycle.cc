// RoundEngine's attempt lifecycle, driven by Tick(): start an attempt
// (sample, plan the private round, start the collector), close it, then
// release, retry or fail, and end the run. The client-facing calls are in
// round_engine.cc; the contract of both is in round_engine.h.
#include <algorithm>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "common/util/log.h"
#include "server/round/round_engine.h"
#include "server/round/round_errors.h"

namespace fedlearn {

std::optional<std::vector<std::string>> RoundEngine::LiveForStartLocked() {
  std::vector<std::string> live = registry_.LiveClients();
  if (static_cast<int>(live.size()) < config_.min_clients) {
    std::string reason =
        absl::StrCat("waiting for clients: ", live.size(), " of ",
                     config_.min_clients, " connected");
    const std::string missing = registry_.DescribeAbsent(live);
    if (!missing.empty()) absl::StrAppend(&reason, "; not live: ", missing);
    if (reason != waiting_reason_) spdlog::info("{}", reason);
    waiting_reason_ = std::move(reason);
    return std::nullopt;
  }
  if (absl::Status s = sampler_.CheckCanReach(live.size(), config_.min_updates);
      !s.ok()) {
    waiting_reason_ = absl::StrCat("waiting for clients: ", s.message());
    return std::nullopt;
  }
  waiting_reason_.clear();
  return live;
}

bool RoundEngine::PlanPrivateRoundLocked(size_t population,
                                         size_t cohort_size) {
  absl::StatusOr<DpRoundPlan> plan = dp_->PlanRound(
      static_cast<int>(population), static_cast<int>(cohort_size),
      config_.secagg.modulus_bits, dimension_);
  if (!plan.ok()) {
    EndRunLocked(absl::FailedPreconditionError(absl::StrCat(
        "round ", round_,
        ": cannot plan the private round: ", plan.status().message())));
    return false;
  }
  // A round whose release would overspend the budget never starts; the run
  // ends as complete with every released round on disk.
  if (absl::Status budget = dp_->CheckBudget(*plan); !budget.ok()) {
    spdlog::warn("round {}: {}", round_, budget.message());
    EndRunLocked(absl::OkStatus(), std::string(budget.message()));
    return false;
  }
  dp_plan_ = *std::move(plan);
  dp_task_ = std::make_shared<const v1::DpTaskConfig>(dp_plan_->task);
  return true;
}

bool RoundEngine::TryStartRoundLocked() {
  std::optional<std::vector<std::string>> live = LiveForStartLocked();
  if (!live.has_value()) return false;
  ++attempt_;
  const std::string where = AttemptLabel(round_, attempt_);
  const size_t population = live->size();
  std::vector<std::string> cohort =
      sampler_.Sample(EligibleLocked(*std::move(live)), round_, attempt_);
  const int needed =
      std::max(config_.min_updates, config_.secagg.enabled ? 3 : 1);
  if (static_cast<int>(cohort.size()) < needed) {
    // Only Poisson sampling can come out this small. Nothing was sent to
    // anyone, so nothing is released or charged: try again next tick.
    const std::string why =
        absl::StrCat(where, ": Poisson sampling at rate ",
                     config_.dp.sampling_rate, " chose ", cohort.size(), " of ",
                     population, " clients, need ", needed);
    if (attempt_ >= config_.max_round_attempts) {
      EndRunLocked(absl::FailedPreconditionError(
          absl::StrCat(why, "; giving up after ", attempt_,
                       " attempts (raise dp.sampling_rate or add clients)")));
    } else {
      spdlog::warn("{}", why);
    }
    return false;
  }
  round_started_ = clock_->Now();
  deadline_unix_ms_ = clock_->UnixMillis() + config_.round_timeout.count();
  dp_plan_.reset();
  dp_task_.reset();
  PlanEvaluationLocked();
  // An evaluation-only round releases nothing, so it spends no privacy.
  if (dp_ != nullptr && !EvaluationOnlyLocked() &&
      !PlanPrivateRoundLocked(population, cohort.size())) {
    return false;
  }
  const size_t selected = cohort.size();
  absl::StatusOr<std::unique_ptr<RoundCollector>> collector =
      StartRoundCollector(
          AttemptSetup{round_, attempt_, std::move(cohort), update_length(),
                       round_started_ + config_.round_timeout, &config_,
                       &registry_, dp_plan_.has_value() ? &*dp_plan_ : nullptr,
                       eval_attempt_.has_value() ? &*eval_attempt_ : nullptr});
  if (!collector.ok()) {
    EndRunLocked(absl::FailedPreconditionError(
        absl::StrCat("round ", round_, ": ", collector.status().message())));
    return false;
  }
  collector_ = *std::move(collector);
  phase_ = Phase::kTraining;
  NotifyPhasesLocked();  // "Training"
  spdlog::info("{}: selected {} of {} live clients{}{}", where, selected,
               population, sampler_.poisson() ? " (Poisson sampling)" : "",
               !eval_attempt_.has_value() ? ""
               : eval_attempt_->evaluate_only
                   ? absl::StrCat(" to evaluate model version ", round_ - 1,
                                  " (evaluation only)")
                   : " (with federated evaluation)");
  return true;
}

void RoundEngine::PlanEvaluationLocked() {
  eval_attempt_.reset();
  if (!eval_layout_.has_value()) return;
  const bool evaluate_only = EvaluationOnlyLocked();
  if (!evaluate_only && !config_.evaluation.EvaluatesTrainingRound(round_)) {
    return;
  }
  eval_attempt_ = EvalAttempt{*eval_layout_, config_.evaluation.max_examples,
                              config_.evaluation.per_site, evaluate_only};
}

FederatedEvalSummary RoundEngine::SummarizeEvaluationLocked(
    const RoundAggregate& aggregate) const {
  FederatedEvalSummary out;
  out.run_id = config_.run_id;
  out.round = round_;
  out.model_version = round_ - 1;
  out.evaluate_only = EvaluationOnlyLocked();
  out.secure = aggregate.secure;
  out.selected = aggregate.selected;
  out.participants = aggregate.participants;
  if (out.evaluate_only) out.model_file = config_.evaluation.model_file;
  if (config_.evaluation.job && config_.evaluation.model_file_version) {
    out.model_version = *config_.evaluation.model_file_version;
    out.model_file_run_id = config_.evaluation.model_file_run_id;
  }
  PublishedEvaluation published =
      SummarizeCollected(*eval_layout_, eval_groups_,
                         config_.evaluation.per_site, *aggregate.evaluation);
  out.stats = std::move(published.stats);
  out.per_site = std::move(published.per_site);
  return out;
}

void RoundEngine::FinishEvaluationOnly(std::unique_lock<std::mutex>& lock,
                                       const RoundAggregate& aggregate) {
  const FederatedEvalSummary summary = SummarizeEvaluationLocked(aggregate);
  phase_ = Phase::kClosing;
  collector_.reset();
  std::vector<RoundListener*> listeners = listeners_;
  lock.unlock();
  spdlog::info("round {}: evaluation of model version {}{}", summary.round,
               summary.model_version, DescribeEvalStatistics(summary.stats));
  absl::Status failure = absl::OkStatus();
  for (RoundListener* l : listeners) {
    if (absl::Status s = l->OnEvaluationCompleted(summary); !s.ok()) {
      failure = absl::InternalError(
          absl::StrCat("the evaluation of round ", summary.round,
                       " could not be recorded: ", s.message()));
      break;
    }
  }
  lock.lock();
  if (!failure.ok()) {
    halted_ = true;  // a restart redoes the evaluation
    EndRunLocked(failure);
    return;
  }
  final_evaluation_done_ = true;
  EndRunLocked(absl::OkStatus());
}

std::vector<std::string> RoundEngine::EligibleLocked(
    std::vector<std::string> live) const {
  if (excluded_.empty()) return live;
  std::vector<std::string> eligible;
  for (const std::string& id : live) {
    if (!excluded_.count(id)) eligible.push_back(id);
  }
  const size_t needed = static_cast<size_t>(
      std::max(config_.min_updates, config_.secagg.enabled ? 3 : 1));
  if (eligible.size() < needed ||
      !sampler_.CheckCanReach(eligible.size(), config_.min_updates).ok()) {
    spdlog::warn(
        "{}: only {} live clients are not excluded from this round, too few "
        "to sample from; sampling all {} live clients ({} excluded)",
        AttemptLabel(round_, attempt_), eligible.size(), live.size(),
        excluded_.size());
    return live;
  }
  return eligible;
}

void RoundEngine::NotifyPhasesLocked() {
  for (const std::string& phase : collector_->TakePhasesEntered()) {
    NotifyPhaseLocked(phase);
  }
}

void RoundEngine::NotifyPhaseLocked(const std::string& phase) {
  for (RoundListener* l : listeners_)
    l->OnPhaseStarted(round_, attempt_, phase);
}

void RoundEngine::RecordExclusionsLocked() {
  for (ClientExclusion& e : collector_->TakeExclusions()) {
    if (!collector_->cohort().Contains(e.client_id)) continue;
    spdlog::warn("{}: excluding '{}' from the round's remaining attempts: {}",
                 AttemptLabel(round_, attempt_), e.client_id, e.reason);
    excluded_[e.client_id] = e.reason;
    unreported_blame_.push_back({round_, attempt_, std::move(e)});
  }
}

void RoundEngine::NotifyBlamed(std::unique_lock<std::mutex>& lock) {
  if (unreported_blame_.empty()) return;
  std::vector<Blamed> blamed = std::move(unreported_blame_);
  unreported_blame_.clear();
  std::vector<RoundListener*> listeners = listeners_;
  lock.unlock();
  for (const Blamed& b : blamed) {
    for (RoundListener* l : listeners) {
      l->OnClientBlamed(b.round, b.attempt, b.exclusion.client_id,
                        b.exclusion.reason);
    }
  }
  lock.lock();
}

void RoundEngine::EndRunLocked(absl::Status outcome,
                               std::string finished_early) {
  phase_ = outcome.ok() ? Phase::kFinished : Phase::kFailed;
  outcome_ = outcome;
  finished_reason_ = std::move(finished_early);
  collector_.reset();
  if (outcome.ok() && !finished_reason_.empty()) {
    spdlog::info("run {} finished before round {}: {}", config_.run_id, round_,
                 finished_reason_);
  } else if (outcome.ok()) {
    spdlog::info("run {} finished after round {}", config_.run_id,
                 config_.num_rounds);
  } else {
    spdlog::error("run {} failed: {}", config_.run_id, outcome.message());
  }
  for (const DepartedClient& d : registry_.departures()) {
    spdlog::warn("run {}: site {} could not take part: {}", config_.run_id,
                 d.client_id, d.reason);
  }
  wake_.notify_all();
}

void RoundEngine::RetryOrFailLocked(std::unique_lock<std::mutex>& lock,
                                    const std::string& reason,
                                    const std::string& advice) {
  collector_.reset();
  if (attempt_ >= config_.max_round_attempts) {
    EndRunLocked(absl::DeadlineExceededError(absl::StrCat(
        reason, "; giving up after ", attempt_, " attempts (", advice, ")")));
    return;
  }
  spdlog::warn("{}; retrying with a new sample", reason);
  phase_ = Phase::kWaitingForClients;
  std::vector<RoundListener*> listeners = listeners_;
  const uint64_t round = round_;
  const int attempt = attempt_;
  lock.unlock();
  for (RoundListener* l : listeners) l->OnRoundRetried(round, attempt, reason);
  lock.lock();
}

void RoundEngine::CloseAttempt(std::unique_lock<std::mutex>& lock) {
  const std::string where = AttemptLabel(round_, attempt_);
  RecordExclusionsLocked();
  absl::StatusOr<CollectionResult> result = collector_->Close();
  if (!result.ok()) {
    EndRunLocked(absl::InternalError(
        absl::StrCat(where, ": ", result.status().message())));
    return;
  }
  if (auto* failure = std::get_if<AttemptFailure>(&*result)) {
    RetryOrFailLocked(lock, absl::StrCat(where, ": ", failure->reason),
                      failure->advice);
    return;
  }
  NotifyPhaseLocked("Releasing");
  RoundAggregate aggregate = std::get<RoundAggregate>(*std::move(result));
  if (eval_attempt_.has_value() && !aggregate.evaluation.has_value()) {
    EndRunLocked(absl::InternalError(
        absl::StrCat(where, ": the collector returned no evaluation")));
    return;
  }
  if (EvaluationOnlyLocked()) {
    FinishEvaluationOnly(lock, aggregate);  // the model stays as it is
    return;
  }
  std::optional<FederatedEvalSummary> evaluation;
  if (eval_attempt_.has_value()) {
    evaluation = SummarizeEvaluationLocked(aggregate);
  }
  absl::StatusOr<ReleasedRound> released =
      ReleaseRound(std::move(aggregate), *global_,
                   ReleaseContext{config_.run_id, round_, attempt_,
                                  config_.server_learning_rate, dp_.get(),
                                  dp_plan_.has_value() ? &*dp_plan_ : nullptr,
                                  registry_.departures(), optimizer_.get()});
  if (!released.ok()) {
    RetryOrFailLocked(lock,
                      absl::StrCat(where, ": ", released.status().message()),
                      ReleaseFailureAdvice(released.status()));
    return;
  }
  released->summary.federated_eval = std::move(evaluation);
  FinishRound(lock, *std::move(released));
}

void RoundEngine::FinishRound(std::unique_lock<std::mutex>& lock,
                              ReleasedRound released) {
  RoundSummary& summary = released.summary;
  if (!summary.dropped.empty()) {
    spdlog::info("round {}: {} selected client(s) dropped: {}", round_,
                 summary.dropped.size(), DescribeClientList(summary.dropped));
  }
  if (summary.federated_eval.has_value()) {
    spdlog::info("round {}: evaluation of model version {}{}", round_,
                 summary.federated_eval->model_version,
                 DescribeEvalStatistics(summary.federated_eval->stats));
  }
  phase_ = Phase::kClosing;
  collector_.reset();
  std::vector<RoundListener*> listeners = listeners_;
  const TimePoint started = round_started_;

  lock.unlock();
  auto next_model = std::make_shared<const FlatModel>(std::move(released.next));
  absl::Status failure = absl::OkStatus();
  if (evaluator_ != nullptr) {
    absl::StatusOr<EvalMetrics> eval = evaluator_->Evaluate(next_model->values);
    if (eval.ok()) {
      summary.eval = *eval;
    } else {
      spdlog::error("round {}: evaluation failed: {}", summary.round,
                    eval.status().message());
    }
  }
  summary.seconds =
      std::chrono::duration<double>(clock_->Now() - started).count();
  for (RoundListener* l : listeners) {
    if (absl::Status s = l->OnRoundCompleted(summary, *next_model); !s.ok()) {
      failure = absl::InternalError(absl::StrCat(
          "round ", summary.round, " could not be recorded: ", s.message()));
      break;
    }
  }
  lock.lock();

  if (!failure.ok()) {
    halted_ = true;  // the last recorded round stays the resume point
    EndRunLocked(failure);
    return;
  }
  global_ = std::move(next_model);
  ++round_;
  attempt_ = 0;
  excluded_.clear();  // exclusion is by round
  if (round_ > static_cast<uint64_t>(config_.num_rounds) &&
      !EvaluationOnlyLocked()) {
    EndRunLocked(absl::OkStatus());
  } else {
    phase_ = Phase::kWaitingForClients;
  }
}

void RoundEngine::Tick() {
  std::unique_lock<std::mutex> lock(mu_);
  // Starts an attempt if one can start, then tells the listeners (outside
  // the lock, as every listener call) whom it selected.
  const auto start = [this, &lock]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!TryStartRoundLocked()) return;
    const std::vector<RoundListener*> listeners = listeners_;
    const uint64_t round = round_;
    const int attempt = attempt_;
    const std::vector<std::string> cohort = collector_->cohort().Excluding({});
    lock.unlock();
    for (RoundListener* l : listeners) {
      l->OnRoundStarted(round, attempt, cohort);
    }
    lock.lock();
  };
  switch (phase_) {
    case Phase::kWaitingForClients:
      start();
      return;
    case Phase::kTraining: {
      const bool may_close = collector_->Poll(clock_->Now());
      NotifyPhasesLocked();  // secure aggregation's phases move in Poll()
      if (!may_close) return;
      CloseAttempt(lock);
      NotifyBlamed(lock);
      if (phase_ == Phase::kWaitingForClients) start();
      return;
    }
    case Phase::kClosing:
    case Phase::kFinished:
    case Phase::kFailed:
      return;
  }
}

absl::Status RoundEngine::RunUntilDone(const std::atomic<bool>& stop,
                                       Duration tick) {
  while (!stop.load()) {
    Tick();
    std::unique_lock<std::mutex> lock(mu_);
    if (phase_ == Phase::kFinished || phase_ == Phase::kFailed) break;
    wake_.wait_for(lock, tick);
  }
  std::vector<RoundListener*> listeners;
  absl::Status outcome;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ != Phase::kFinished && phase_ != Phase::kFailed) {
      outcome_ =
          absl::CancelledError("coordinator stopped before the run ended");
    }
    outcome = outcome_;
    listeners = listeners_;
  }
  for (RoundListener* l : listeners) l->OnRunEnded(outcome);
  return outcome;
}

}  // namespace fedlearn
