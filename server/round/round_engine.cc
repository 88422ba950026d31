#include "server/round/round_engine.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/util/escape.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "common/wire/proto_conversion.h"
#include "common/wire/run_contract.h"
#include "server/round/evaluation_only_collector.h"
#include "server/round/plain_collector.h"
#include "server/round/round_errors.h"

namespace fedlearn {
namespace {

// The configured contract for this run; an engine configured without one
// (in-process tests) still offers the model's tensor spec.
ContractOffer MakeContractOffer(const RoundEngineConfig& config,
                                const ModelSpec& spec) {
  ContractOffer offer;
  offer.contract = config.contract;
  offer.contract.set_run_id(config.run_id);
  v1::ModelDefinition* model = offer.contract.mutable_model();
  if (model->architecture().empty()) model->set_architecture(spec.architecture);
  if (!model->has_spec()) *model->mutable_spec() = ToProto(spec);
  offer.digest = ContractDigest(offer.contract);
  return offer;
}

absl::Status CheckInitialModel(const FlatModel& initial) {
  if (initial.values.empty() || static_cast<int64_t>(initial.values.size()) !=
                                    initial.spec.NumElements()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "initial model has ", initial.values.size(),
        " values but its spec describes ", initial.spec.NumElements()));
  }
  if (absl::Status s = CheckAllFinite(initial.values.span()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("initial model: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RoundEngine>> RoundEngine::Create(
    RoundEngineConfig config, FlatModel initial, uint64_t start_round,
    const Clock* clock, ModelEvaluator* evaluator) {
  RETURN_IF_ERROR(config.Validate());
  if (clock == nullptr) return absl::InvalidArgumentError("clock is null");
  RETURN_IF_ERROR(CheckInitialModel(initial));
  RETURN_IF_ERROR(config.robust.CheckMemory(config.clients_per_round,
                                            initial.values.size()));
  if (start_round < 1) {
    return absl::InvalidArgumentError("start_round must be >= 1");
  }
  std::unique_ptr<DpPlanner> dp;
  if (config.dp.enabled()) {
    ASSIGN_OR_RETURN(dp,
                     DpPlanner::Create(config.dp, config.num_rounds,
                                       config.secagg.enabled, config.dp_state));
  }
  ASSIGN_OR_RETURN(
      std::unique_ptr<ServerOptimizer> optimizer,
      CreateServerOptimizer(config.strategy, config.server_learning_rate,
                            initial.values.size(), config.strategy_state));
  std::optional<EvalLayout> eval_layout;
  if (config.evaluation.enabled()) {
    absl::StatusOr<EvalLayout> layout =
        EvalLayout::FromContract(config.contract);
    if (!layout.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("federated evaluation: the contract's evaluation spec: ",
                       layout.status().message()));
    }
    eval_layout = *layout;
  }
  return std::unique_ptr<RoundEngine>(new RoundEngine(
      std::move(config), std::move(initial), start_round, clock, evaluator,
      std::move(dp), std::move(optimizer), std::move(eval_layout)));
}

RoundEngine::RoundEngine(RoundEngineConfig config, FlatModel initial,
                         uint64_t start_round, const Clock* clock,
                         ModelEvaluator* evaluator,
                         std::unique_ptr<DpPlanner> dp,
                         std::unique_ptr<ServerOptimizer> optimizer,
                         std::optional<EvalLayout> eval_layout)
    : config_(std::move(config)),
      clock_(clock),
      evaluator_(evaluator),
      spec_(initial.spec),
      dimension_(initial.values.size()),
      dp_(std::move(dp)),
      optimizer_(std::move(optimizer)),
      eval_layout_(std::move(eval_layout)),
      eval_groups_(config_.contract.evaluation().groups().begin(),
                   config_.contract.evaluation().groups().end()),
      registry_({config_.run_id, config_.max_registered_clients,
                 config_.client_liveness, config_.session_takeover},
                MakeContractOffer(config_, initial.spec), clock_),
      sampler_({config_.clients_per_round, config_.fraction, config_.seed},
               dp_.get()),
      round_(start_round),
      global_(std::make_shared<const FlatModel>(std::move(initial))),
      final_evaluation_done_(config_.evaluation.final_done) {
  if (round_ > static_cast<uint64_t>(config_.num_rounds) &&
      !EvaluationOnlyLocked()) {
    phase_ = Phase::kFinished;
  }
}

bool RoundEngine::EvaluationOnlyLocked() const {
  return eval_layout_.has_value() && !final_evaluation_done_ &&
         config_.evaluation.EvaluationOnlyPending(round_, config_.num_rounds);
}

void RoundEngine::AddListener(RoundListener* listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.push_back(listener);
}

void RoundEngine::RemoveListener(RoundListener* listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener),
                   listeners_.end());
}

ContractOffer RoundEngine::GetContract() const {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_.contract();
}

absl::Status RoundEngine::Register(const std::string& client_id,
                                   uint64_t num_examples,
                                   const std::string& contract_digest,
                                   const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(
      registry_.Register(client_id, num_examples, contract_digest, session_id));
  wake_.notify_all();
  return absl::OkStatus();
}

absl::Status RoundEngine::Leave(const std::string& client_id,
                                const std::string& session_id, bool permanent,
                                const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(registry_.Leave(client_id, session_id, permanent, reason));
  if (phase_ == Phase::kTraining) collector_->OnLeave(client_id);
  wake_.notify_all();
  return absl::OkStatus();
}

absl::Status RoundEngine::Evict(const std::string& client_id,
                                const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!registry_.Contains(client_id)) return UnknownClientError(client_id);
  // No session id: the coordinator ends whichever session is live.
  RETURN_IF_ERROR(registry_.Leave(client_id, /*session_id=*/"",
                                  /*permanent=*/true,
                                  absl::StrCat("evicted: ", reason)));
  if (phase_ == Phase::kTraining) collector_->OnLeave(client_id);
  wake_.notify_all();
  return absl::OkStatus();
}

std::vector<DepartedClient> RoundEngine::departures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_.departures();
}

absl::Status RoundEngine::Heartbeat(const std::string& client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_.TouchKnown(client_id);
}

std::string RoundEngine::IdleReasonLocked() const {
  switch (phase_) {
    case Phase::kFinished:
      return finished_reason_.empty()
                 ? "run finished"
                 : absl::StrCat("run finished: ", finished_reason_);
    case Phase::kFailed:
      return std::string(outcome_.message());
    case Phase::kWaitingForClients:
      return waiting_reason_.empty() ? "waiting for clients" : waiting_reason_;
    case Phase::kClosing:
      return absl::StrCat("round ", round_, " is being aggregated");
    case Phase::kTraining:
      break;
  }
  return "";
}

Task RoundEngine::MakeTaskLocked(const std::string& client_id) const {
  Task task;
  task.run_id = config_.run_id;
  task.round = round_;
  task.model_version = round_ - 1;
  task.model = global_;
  task.training = config_.training;
  task.training.seed = config_.training.seed ^
                       (round_ * 0x9E3779B97F4A7C15ull) ^
                       std::hash<std::string>{}(client_id);
  SetQfflTaskFields(config_.strategy, &task.training);
  task.deadline_unix_ms = deadline_unix_ms_;
  collector_->DescribeTask(task);
  task.dp = dp_task_;
  task.contract_digest = registry_.contract().digest;
  if (eval_attempt_.has_value()) {
    v1::EvaluationTask evaluation;
    evaluation.set_evaluate_only(eval_attempt_->evaluate_only);
    evaluation.set_max_examples(eval_attempt_->max_examples);
    evaluation.set_per_site(eval_attempt_->per_site);
    task.evaluation = std::move(evaluation);
  }
  return task;
}

absl::StatusOr<FetchOutcome> RoundEngine::FetchTask(
    const std::string& client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(registry_.TouchKnown(client_id));
  FetchOutcome out;
  out.retry_after_ms = config_.poll_interval_ms;
  if (phase_ != Phase::kTraining) {
    // A halted run is not over: clients keep polling until a restarted
    // coordinator resumes it.
    out.run_halted = phase_ == Phase::kFailed && halted_;
    out.run_finished =
        phase_ == Phase::kFinished || (phase_ == Phase::kFailed && !halted_);
    out.run_failed = out.run_finished && phase_ == Phase::kFailed;
    out.reason = IdleReasonLocked();
    return out;
  }
  Cohort& cohort = collector_->cohort();
  if (!cohort.Contains(client_id)) {
    out.reason = absl::StrCat("not selected for round ", round_);
    return out;
  }
  if (!cohort.Pending(client_id)) {
    out.reason = absl::StrCat("already answered round ", round_);
    return out;
  }
  // A re-fetch (after a broken download) gets the same task again.
  cohort.Set(client_id, ClientRoundState::kTaskSent);
  out.task = MakeTaskLocked(client_id);
  return out;
}

absl::Status RoundEngine::CheckMayUploadLocked(const std::string& client_id,
                                               const std::string& run_id,
                                               uint64_t round) const {
  if (!registry_.Contains(client_id)) return UnknownClientError(client_id);
  if (run_id != config_.run_id) {
    return WrongRunError("upload", run_id, config_.run_id);
  }
  if (phase_ != Phase::kTraining || round != round_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "upload for round ", round, " is not accepted now (round ", round_,
        phase_ == Phase::kTraining ? " is collecting)"
                                   : " is not collecting)"));
  }
  if (!collector_->cohort().Contains(client_id)) {
    return NotSelectedError(client_id, round_);
  }
  return collector_->CheckMayUpload(client_id);
}

absl::Status RoundEngine::CheckMayUpload(const std::string& client_id,
                                         const std::string& run_id,
                                         uint64_t round) const {
  std::lock_guard<std::mutex> lock(mu_);
  return CheckMayUploadLocked(client_id, run_id, round);
}

absl::Status RoundEngine::SubmitUpdate(const std::string& client_id,
                                       UpdateSubmission submission) {
  // Content checks first, without the lock: they are O(D).
  absl::Status content = CheckUpdateContent(submission, update_length(),
                                            config_.max_examples_per_update,
                                            config_.max_update_l2_norm);

  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(registry_.TouchKnown(client_id));
  RETURN_IF_ERROR(
      CheckMayUploadLocked(client_id, submission.run_id, submission.round));
  if (EvaluationOnlyLocked()) {
    // An evaluation-only upload: its update is ignored, its report counts.
    content = CheckEvaluationOnlyContent(submission, update_length());
  } else if (content.ok()) {
    content = CheckDeclaredExamples(submission.num_examples,
                                    registry_.DeclaredExamples(client_id));
  }
  if (submission.model_version != round_ - 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "update was trained on model version ", submission.model_version,
        ", round ", round_, " trains version ", round_ - 1));
  }
  absl::Status s =
      collector_->SubmitUpdate(client_id, std::move(submission), content);
  wake_.notify_all();
  return s;
}

void RoundEngine::RejectUpdate(const std::string& client_id,
                               const std::string& run_id, uint64_t round,
                               const absl::Status& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (phase_ != Phase::kTraining || run_id != config_.run_id ||
      round != round_) {
    return;
  }
  if (!collector_->cohort().RejectIfPending(client_id)) return;
  // `why` may quote what the client sent (a decoding error): bounded and
  // escaped before it reaches the log.
  spdlog::warn("round {}: rejected update from {}: {}", round_, client_id,
               EscapeUntrusted(why.message(), 300));
  wake_.notify_all();
}

absl::Status RoundEngine::CheckOpenAttemptLocked(const std::string& client_id,
                                                 const std::string& run_id,
                                                 uint64_t round) const {
  if (!registry_.Contains(client_id)) return UnknownClientError(client_id);
  if (run_id != config_.run_id) {
    return WrongRunError("message", run_id, config_.run_id);
  }
  if (phase_ != Phase::kTraining || round != round_) {
    return NoSecureRoundError(round, round_);
  }
  return collector_->AcceptsSecAgg(client_id);
}

absl::StatusOr<SecAggExchangeReply> RoundEngine::SecAggExchange(
    const std::string& client_id, const std::string& run_id, uint64_t round,
    const v1::SecAggClientMessage* message) {
  std::lock_guard<std::mutex> lock(mu_);
  registry_.Touch(client_id);
  const uint32_t retry_after_ms =
      std::min<uint32_t>(config_.poll_interval_ms, 100);
  if (absl::Status s = CheckOpenAttemptLocked(client_id, run_id, round);
      !s.ok()) {
    // A round that ended (completed or aborted) is not an error for a
    // client that was part of it: tell it to stop.
    if (absl::IsFailedPrecondition(s) && run_id == config_.run_id &&
        round <= round_) {
      SecAggExchangeReply reply;
      reply.retry_after_ms = retry_after_ms;
      reply.aborted = true;
      reply.reason = std::string(s.message());
      return reply;
    }
    return s;
  }
  absl::StatusOr<SecAggExchangeReply> reply =
      collector_->SecAggExchange(client_id, message);
  if (message != nullptr) NotifyPhasesLocked();  // e.g. the first advertisement
  if (message != nullptr) wake_.notify_all();
  if (reply.ok()) reply->retry_after_ms = retry_after_ms;
  return reply;
}

absl::Status RoundEngine::SubmitMaskedInput(
    const std::string& client_id, const std::string& run_id, uint64_t round,
    std::vector<uint32_t> masked, std::vector<uint64_t> eval_report,
    const std::optional<std::string>& secagg_session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  registry_.Touch(client_id);
  RETURN_IF_ERROR(CheckOpenAttemptLocked(client_id, run_id, round));
  RETURN_IF_ERROR(collector_->CheckMayUpload(client_id));
  if (secagg_session_id.has_value()) {
    // The session the attempt's tasks announced (a retried round keeps its
    // number, so the cohort index alone cannot tell attempts apart).
    Task task;
    collector_->DescribeTask(task);
    const std::string current =
        task.secagg != nullptr ? task.secagg->session_id() : "";
    if (*secagg_session_id != current) {
      // Hex of at most 8 bytes: nothing the client sent reaches the text raw.
      return absl::FailedPreconditionError(absl::StrCat(
          AttemptLabel(round_, attempt_),
          ": this masked input belongs to a stale secure-aggregation session (",
          secagg_session_id->empty()
              ? std::string("none given")
              : absl::BytesToHexString(secagg_session_id->substr(0, 8)),
          ", the attempt's is ", absl::BytesToHexString(current.substr(0, 8)),
          "): fetch the round's task again"));
    }
  }
  absl::Status s = collector_->SubmitMaskedInput(client_id, std::move(masked),
                                                 std::move(eval_report));
  wake_.notify_all();
  return s;
}

size_t RoundEngine::MaskedInputLength() const {
  std::lock_guard<std::mutex> lock(mu_);
  return collector_ != nullptr ? collector_->MaskedInputLength() : 0;
}

RoundEngine::Phase RoundEngine::phase() const {
  std::lock_guard<std::mutex> lock(mu_);
  return phase_;
}

bool RoundEngine::halted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return phase_ == Phase::kFailed && halted_;
}

uint64_t RoundEngine::current_round() const {
  std::lock_guard<std::mutex> lock(mu_);
  return round_;
}

uint64_t RoundEngine::model_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return round_ - 1;
}

std::string RoundEngine::finished_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_reason_;
}

absl::Status RoundEngine::outcome() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outcome_;
}

std::shared_ptr<const FlatModel> RoundEngine::global_model() const {
  std::lock_guard<std::mutex> lock(mu_);
  return global_;
}

RoundEngine::StatusView RoundEngine::status_view() const {
  std::lock_guard<std::mutex> lock(mu_);
  StatusView view;
  view.phase = phase_;
  view.round = round_;
  view.attempt = attempt_;
  view.num_rounds = config_.num_rounds;
  view.registered = registry_.size();
  view.live = registry_.LiveClients().size();
  if (dp_ != nullptr) {
    const DpConfig& dp = dp_->config();
    view.dp = true;
    view.epsilon_spent = dp_->EpsilonSpent();
    view.epsilon_budget =
        dp.epsilon_budget > 0 ? dp.epsilon_budget : dp.target_epsilon;
    view.delta = dp.delta;
  }
  view.finished_reason = finished_reason_;
  if (!outcome_.ok()) view.failure = std::string(outcome_.message());
  return view;
}

}  // namespace fedlearn
