#include "server/status/run_status_tracker.h"

#include <algorithm>
#include <chrono>

namespace fedlearn {

const char* RunStateName(RunState state) {
  switch (state) {
    case RunState::kWaitingForClients:
      return "waiting_for_clients";
    case RunState::kRunning:
      return "running";
    case RunState::kFinished:
      return "finished";
    case RunState::kFailed:
      return "failed";
  }
  return "unknown";
}

RunStatusTracker::RunStatusTracker(Options options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &system_clock_),
      started_(clock_->Now()) {}

absl::Status RunStatusTracker::OnRoundCompleted(const RoundSummary& summary,
                                                const FlatModel& global) {
  CompletedRoundStatus done;
  done.round = summary.round;
  done.attempt = summary.attempt;
  done.selected = summary.selected;
  done.participants = summary.participants;
  done.dropped = static_cast<int>(summary.dropped.size());
  done.rejected = summary.rejected;
  if (summary.eval.has_value()) {
    done.test_accuracy = summary.eval->accuracy;
    done.test_loss = summary.eval->loss;
  }
  done.seconds = summary.seconds;
  done.secure = summary.secure;
  if (summary.dp.has_value()) done.epsilon = summary.dp->epsilon;
  std::lock_guard<std::mutex> lock(mu_);
  completed_ = std::max(completed_, summary.round);
  last_round_ = std::move(done);
  return absl::OkStatus();
}

void RunStatusTracker::OnRoundRetried(uint64_t round, int attempt,
                                      const std::string& reason) {
  // The attempt is over: no phase or cohort of it is current any more.
  std::lock_guard<std::mutex> lock(mu_);
  const AttemptRef closed{round, attempt};
  if (phase_attempt_ == closed) phase_.clear();
  if (started_attempt_ == closed) selected_ = 0;
}

void RunStatusTracker::OnRunEnded(const absl::Status& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
  failed_ = !outcome.ok();
  failure_ = std::string(outcome.message());
}

void RunStatusTracker::OnRoundStarted(uint64_t round, int attempt,
                                      const std::vector<std::string>& cohort) {
  std::lock_guard<std::mutex> lock(mu_);
  const AttemptRef opened{round, attempt};
  if (opened < started_attempt_) return;  // a late, stale call
  started_attempt_ = opened;
  selected_ = static_cast<int>(cohort.size());
}

void RunStatusTracker::OnPhaseStarted(uint64_t round, int attempt,
                                      const std::string& phase) {
  std::lock_guard<std::mutex> lock(mu_);
  const AttemptRef at{round, attempt};
  if (at < phase_attempt_) return;
  phase_attempt_ = at;
  phase_ = phase;
}

RunStatus RunStatusTracker::Snapshot() const {
  RunStatus s;
  s.run_id = options_.run_id;
  s.coordinator_version = options_.coordinator_version;
  s.rounds_configured = options_.num_rounds;
  s.uptime_seconds =
      std::chrono::duration<double>(clock_->Now() - started_).count();
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t completed =
      completed_ > 0 ? completed_ : options_.start_round - 1;
  s.rounds_completed = completed;
  s.last_round = last_round_;
  if (last_round_.has_value() && last_round_->epsilon.has_value()) {
    s.dp = true;
    s.epsilon_spent = *last_round_->epsilon;
  }
  const AttemptRef current = std::max(started_attempt_, phase_attempt_);
  if (ended_) {
    s.state = failed_ ? RunState::kFailed : RunState::kFinished;
    s.failure = failed_ ? failure_ : "";
    s.round = failed_ ? std::max(current.round, completed) : completed;
    s.attempt = current.round == s.round ? current.attempt : 0;
    return s;
  }
  // Open: an attempt of a round not yet released, still with a phase or a
  // cohort (a retried attempt has neither).
  const bool open = current.round > completed &&
                    ((current == phase_attempt_ && !phase_.empty()) ||
                     (current == started_attempt_ && selected_ > 0));
  if (open) {
    s.state = RunState::kRunning;
    s.round = current.round;
    s.attempt = current.attempt;
    if (current == phase_attempt_) s.phase = phase_;
    if (current == started_attempt_) s.clients_selected = selected_;
    return s;
  }
  s.state = RunState::kWaitingForClients;
  s.round = std::max(completed + 1, current.round);
  s.attempt = current.round == s.round ? current.attempt : 0;
  return s;
}

void ApplyEngineView(const RoundEngine::StatusView& view, RunStatus* status) {
  const bool same_attempt = status->state == RunState::kRunning &&
                            status->round == view.round &&
                            status->attempt == view.attempt;
  switch (view.phase) {
    case RoundEngine::Phase::kWaitingForClients:
      status->state = RunState::kWaitingForClients;
      break;
    case RoundEngine::Phase::kTraining:
    case RoundEngine::Phase::kClosing:
      status->state = RunState::kRunning;
      break;
    case RoundEngine::Phase::kFinished:
      status->state = RunState::kFinished;
      break;
    case RoundEngine::Phase::kFailed:
      status->state = RunState::kFailed;
      break;
  }
  const bool open = status->state == RunState::kRunning;
  if (!open || !same_attempt) {
    status->phase.clear();
    status->clients_selected = 0;
  }
  status->rounds_completed = view.round > 0 ? view.round - 1 : 0;
  status->round = status->state == RunState::kFinished
                      ? status->rounds_completed
                      : view.round;
  status->attempt = view.attempt;
  status->rounds_configured = view.num_rounds;
  status->clients_registered = view.registered;
  status->clients_live = view.live;
  status->dp = view.dp;
  status->epsilon_spent = view.dp ? view.epsilon_spent : 0;
  status->epsilon_budget = view.epsilon_budget;
  status->delta = view.delta;
  status->finished_reason = view.finished_reason;
  status->failure = status->state == RunState::kFailed ? view.failure : "";
}

}  // namespace fedlearn
