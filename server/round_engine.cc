#include "server/round_engine.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/dp/l2_clipping.h"
#include "common/secagg/encoding_proto.h"
#include "common/util/escape.h"
#include "common/util/log.h"
#include "common/wire/proto_conversion.h"
#include "common/wire/run_contract.h"

namespace fedlearn {
absl::Status RoundEngineConfig::Validate() const {
  if (run_id.empty()) return absl::InvalidArgumentError("run_id is empty");
  if (num_rounds < 1) return absl::InvalidArgumentError("rounds must be >= 1");
  if (min_clients < 1) {
    return absl::InvalidArgumentError("min_clients must be >= 1");
  }
  if (clients_per_round < 0) {
    return absl::InvalidArgumentError("clients_per_round must be >= 0");
  }
  if (clients_per_round == 0 && !(fraction > 0 && fraction <= 1)) {
    return absl::InvalidArgumentError("fraction must be in (0, 1]");
  }
  if (min_updates < 1) {
    return absl::InvalidArgumentError("min_updates must be >= 1");
  }
  if (!dp.enabled() && clients_per_round > 0 && min_updates > clients_per_round) {
    return absl::InvalidArgumentError(absl::StrCat(
        "min_updates (", min_updates, ") exceeds clients_per_round (",
        clients_per_round, "): no round could ever be aggregated"));
  }
  if (round_timeout.count() <= 0) {
    return absl::InvalidArgumentError("round_timeout must be positive");
  }
  if (max_round_attempts < 1) {
    return absl::InvalidArgumentError("max_round_attempts must be >= 1");
  }
  if (!(server_learning_rate > 0) || !std::isfinite(server_learning_rate)) {
    return absl::InvalidArgumentError("server_learning_rate must be positive");
  }
  if (secagg.enabled) {
    if (min_clients < 3 || (!dp.enabled() && clients_per_round > 0 && clients_per_round < 3)) {
      return absl::InvalidArgumentError(
          "secure aggregation needs at least 3 clients per round: raise "
          "rounds.min_clients and rounds.clients_per_round to 3 or more, or "
          "set secagg.enabled = false");
    }
    if (absl::Status s = secagg.Validate(); !s.ok()) return s;
    // secagg.Validate() checks the encoding for the smallest cohort (3). With
    // a fixed cohort size, an encoding whose sum could overflow for it is
    // refused now, not when round 1 starts.
    if (clients_per_round > 0 && !dp.enabled()) {
      if (absl::StatusOr<InputEncoder> e =
              InputEncoder::Create(secagg.Encoding(clients_per_round));
          !e.ok()) {
        return e.status();
      }
    }
  }
  if (max_examples_per_update < 1) {
    return absl::InvalidArgumentError("max_examples_per_update must be >= 1");
  }
  if (!(secagg_error.max_relative_error >= 0) ||
      !std::isfinite(secagg_error.max_relative_error)) {
    return absl::InvalidArgumentError(
        "secagg.max_relative_error must be >= 0 (0 disables the check)");
  }
  return dp.Validate(num_rounds, secagg.enabled);
}

absl::StatusOr<std::unique_ptr<RoundEngine>> RoundEngine::Create(
    RoundEngineConfig config, FlatModel initial, uint64_t start_round,
    const Clock* clock, ModelEvaluator* evaluator) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (clock == nullptr) return absl::InvalidArgumentError("clock is null");
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
  if (start_round < 1) {
    return absl::InvalidArgumentError("start_round must be >= 1");
  }
  std::unique_ptr<DpPlanner> dp;
  if (config.dp.enabled()) {
    absl::StatusOr<std::unique_ptr<DpPlanner>> planner = DpPlanner::Create(
        config.dp, config.num_rounds, config.secagg.enabled, config.dp_state);
    if (!planner.ok()) return planner.status();
    dp = *std::move(planner);
  }
  return std::unique_ptr<RoundEngine>(
      new RoundEngine(std::move(config), std::move(initial), start_round, clock,
                      evaluator, std::move(dp)));
}

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

// "a, b, c (+N more)": at most ten names, for log lines.
std::string DescribeClientList(const std::vector<std::string>& ids) {
  constexpr size_t kMaxNamed = 10;
  std::string out;
  for (size_t i = 0; i < ids.size() && i < kMaxNamed; ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", ids[i]);
  }
  if (ids.size() > kMaxNamed) {
    absl::StrAppend(&out, " (+", ids.size() - kMaxNamed, " more)");
  }
  return out;
}

}  // namespace

RoundEngine::RoundEngine(RoundEngineConfig config, FlatModel initial,
                         uint64_t start_round, const Clock* clock,
                         ModelEvaluator* evaluator,
                         std::unique_ptr<DpPlanner> dp)
    : config_(std::move(config)),
      clock_(clock),
      evaluator_(evaluator),
      spec_(initial.spec),
      dimension_(initial.values.size()),
      contract_(MakeContractOffer(config_, initial.spec)),
      round_(start_round),
      global_(std::make_shared<const FlatModel>(std::move(initial))),
      aggregator_(global_->values.size()),
      dp_(std::move(dp)) {
  if (round_ > static_cast<uint64_t>(config_.num_rounds)) {
    phase_ = Phase::kFinished;
  }
}

void RoundEngine::AddListener(RoundListener* listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.push_back(listener);
}

void RoundEngine::TouchLocked(const std::string& client_id) {
  auto it = clients_.find(client_id);
  if (it != clients_.end()) it->second.last_seen = clock_->Now();
}

ContractOffer RoundEngine::GetContract() const { return contract_; }

absl::Status RoundEngine::Register(const std::string& client_id,
                                   uint64_t num_examples,
                                   const std::string& contract_digest,
                                   const std::string& session_id) {
  if (client_id.empty()) {
    return absl::InvalidArgumentError("client id is empty");
  }
  if (!contract_digest.empty() && contract_digest != contract_.digest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "client prepared for another run contract (",
        EscapeUntrusted(contract_digest, 16), "...); run '", config_.run_id,
        "' has contract ", contract_.digest.substr(0, 16),
        "...: fetch the contract again"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = clients_.find(client_id);
  if (it != clients_.end() && !session_id.empty() &&
      !it->second.session_id.empty() && it->second.session_id != session_id &&
      !it->second.left &&
      clock_->Now() - it->second.last_seen < config_.session_takeover) {
    const double ago =
        std::chrono::duration<double>(clock_->Now() - it->second.last_seen)
            .count();
    spdlog::warn(
        "refused a second session for client {}: another process with the "
        "same identity was active {:.1f} s ago",
        client_id, ago);
    return absl::AlreadyExistsError(absl::StrCat(
        "another process holding the identity '", client_id,
        "' is connected (last heard from ", static_cast<int>(ago),
        " s ago); refusing a second session. Each site needs its own "
        "certificate; a restarted client is admitted once the old session "
        "has been silent for ",
        std::chrono::duration_cast<std::chrono::seconds>(
            config_.session_takeover)
            .count(),
        " s"));
  }
  if (it == clients_.end()) {
    if (clients_.size() >= config_.max_registered_clients) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "coordinator already has ", clients_.size(), " registered clients"));
    }
    it = clients_.emplace(client_id, ClientRecord{}).first;
    spdlog::info("client {} registered ({} registered)", client_id,
                 clients_.size());
  }
  if (it->second.left) {
    spdlog::info("client {} rejoined the run", client_id);
  }
  it->second.last_seen = clock_->Now();
  it->second.num_examples = num_examples;
  it->second.session_id = session_id;
  it->second.left = false;
  departures_.erase(client_id);
  wake_.notify_all();
  return absl::OkStatus();
}

absl::Status RoundEngine::Leave(const std::string& client_id,
                                const std::string& session_id, bool permanent,
                                const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = clients_.find(client_id);
  if (it != clients_.end() && !session_id.empty() &&
      !it->second.session_id.empty() && it->second.session_id != session_id) {
    // Another process's session: it must not end the live one.
    return absl::FailedPreconditionError(absl::StrCat(
        "client '", client_id, "' has another live session; not leaving"));
  }
  const std::string why = reason.empty() ? "no reason given"
                                         : EscapeUntrusted(reason, 300);
  if (it != clients_.end()) it->second.left = true;
  if (permanent) {
    departures_[client_id] = DepartedClient{client_id, true, why};
    spdlog::warn("client {} cannot take part in run {}: {}", client_id,
                 config_.run_id, why);
  } else {
    spdlog::info("client {} left the run: {}", client_id, why);
  }
  auto member = cohort_.find(client_id);
  if (member != cohort_.end() && phase_ == Phase::kTraining) {
    if (secure_round_ == nullptr &&
        (member->second == ClientRoundState::kSelected ||
         member->second == ClientRoundState::kTaskSent)) {
      member->second = ClientRoundState::kRejected;
      ++rejected_;
    }
  }
  wake_.notify_all();
  return absl::OkStatus();
}

std::vector<DepartedClient> RoundEngine::departures() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<DepartedClient> out;
  for (const auto& [id, d] : departures_) out.push_back(d);
  return out;
}

absl::Status RoundEngine::Heartbeat(const std::string& client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (clients_.count(client_id) == 0) {
    return absl::NotFoundError(
        absl::StrCat("unknown client '", client_id, "': register first"));
  }
  TouchLocked(client_id);
  return absl::OkStatus();
}

absl::StatusOr<FetchOutcome> RoundEngine::FetchTask(
    const std::string& client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (clients_.count(client_id) == 0) {
    return absl::NotFoundError(
        absl::StrCat("unknown client '", client_id, "': register first"));
  }
  TouchLocked(client_id);
  FetchOutcome out;
  out.retry_after_ms = config_.poll_interval_ms;
  switch (phase_) {
    case Phase::kFinished:
    case Phase::kFailed:
      out.run_finished = true;
      out.run_failed = phase_ == Phase::kFailed;
      out.reason = phase_ == Phase::kFailed ? std::string(outcome_.message())
                   : finished_reason_.empty()
                       ? "run finished"
                       : absl::StrCat("run finished: ", finished_reason_);
      return out;
    case Phase::kWaitingForClients:
      out.reason =
          waiting_reason_.empty() ? "waiting for clients" : waiting_reason_;
      return out;
    case Phase::kClosing:
      out.reason = absl::StrCat("round ", round_, " is being aggregated");
      return out;
    case Phase::kTraining:
      break;
  }
  auto it = cohort_.find(client_id);
  if (it == cohort_.end()) {
    out.reason = absl::StrCat("not selected for round ", round_);
    return out;
  }
  if (it->second != ClientRoundState::kSelected &&
      it->second != ClientRoundState::kTaskSent) {
    out.reason = absl::StrCat("already answered round ", round_);
    return out;
  }
  // A re-fetch (after a broken download) gets the same task again.
  it->second = ClientRoundState::kTaskSent;
  Task task;
  task.run_id = config_.run_id;
  task.round = round_;
  task.model_version = round_ - 1;
  task.model = global_;
  task.training = config_.training;
  task.training.seed = config_.training.seed ^
                       (round_ * 0x9E3779B97F4A7C15ull) ^
                       std::hash<std::string>{}(client_id);
  task.deadline_unix_ms = deadline_unix_ms_;
  if (secure_round_ != nullptr) {
    task.secagg = secagg_config_;
    task.encoding = secure_round_->encoding();
  }
  task.dp = dp_task_;
  task.contract_digest = contract_.digest;
  out.task = std::move(task);
  return out;
}

absl::Status RoundEngine::SubmitUpdate(const std::string& client_id,
                                       UpdateSubmission submission) {
  // Content checks first, without the lock: they are O(D).
  absl::Status content = absl::OkStatus();
  if (submission.delta.size() != dimension_) {
    content = absl::InvalidArgumentError(
        absl::StrCat("update has ", submission.delta.size(),
                     " values, the model has ", dimension_));
  } else if (absl::Status s = CheckAllFinite(submission.delta.span());
             !s.ok()) {
    content = absl::InvalidArgumentError(
        absl::StrCat("update rejected: ", s.message()));
  } else if (submission.num_examples == 0 ||
             submission.num_examples > config_.max_examples_per_update) {
    content = absl::InvalidArgumentError(absl::StrCat(
        "num_examples must be in [1, ", config_.max_examples_per_update,
        "], got ", submission.num_examples));
  } else if (!std::isfinite(submission.train_loss)) {
    content = absl::InvalidArgumentError("reported train loss is not finite");
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (clients_.count(client_id) == 0) {
    return absl::NotFoundError(
        absl::StrCat("unknown client '", client_id, "': register first"));
  }
  TouchLocked(client_id);
  if (submission.run_id != config_.run_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("update names run '", submission.run_id,
                     "', active run is '", config_.run_id, "'"));
  }
  if (phase_ != Phase::kTraining || submission.round != round_) {
    return absl::FailedPreconditionError(
        absl::StrCat("update for round ", submission.round,
                     " is not accepted now (round ", round_,
                     phase_ == Phase::kTraining ? " is collecting)"
                                                : " is not collecting)"));
  }
  if (submission.model_version != round_ - 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "update was trained on model version ", submission.model_version,
        ", round ", round_, " trains version ", round_ - 1));
  }
  auto it = cohort_.find(client_id);
  if (it == cohort_.end()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "client '", client_id, "' was not selected for round ", round_));
  }
  if (secure_round_ != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round ", round_,
        " uses secure aggregation: plaintext updates are refused"));
  }
  if (it->second == ClientRoundState::kAccepted ||
      it->second == ClientRoundState::kRejected) {
    return absl::AlreadyExistsError(absl::StrCat(
        "client '", client_id, "' already answered round ", round_));
  }
  if (!content.ok()) {
    it->second = ClientRoundState::kRejected;
    ++rejected_;
    spdlog::warn("round {}: rejected update from {}: {}", round_, client_id,
                 content.message());
    wake_.notify_all();
    return content;
  }
  double weight = static_cast<double>(submission.num_examples);
  if (dp_ != nullptr) {
    // DP-FedAvg: every client weighs 1 and its update is clipped to C here
    // too, so a client that skipped its own clipping gains nothing.
    absl::StatusOr<ClipOutcome> clip =
        ClipToL2Norm(submission.delta.span(), dp_plan_->task.clip_norm());
    if (!clip.ok()) {
      it->second = ClientRoundState::kRejected;
      ++rejected_;
      wake_.notify_all();
      return clip.status();
    }
    weight = 1.0;
    dp_indicator_sum_ += clip->clipped ? -1.0 : 1.0;
  }
  if (absl::Status s = aggregator_.Add(submission.delta.span(), weight);
      !s.ok()) {
    it->second = ClientRoundState::kRejected;
    ++rejected_;
    wake_.notify_all();
    return s;
  }
  loss_sum_ += weight * submission.train_loss;
  it->second = ClientRoundState::kAccepted;
  wake_.notify_all();
  return absl::OkStatus();
}

void RoundEngine::RejectUpdate(const std::string& client_id,
                               const std::string& run_id, uint64_t round,
                               const absl::Status& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (phase_ != Phase::kTraining || run_id != config_.run_id ||
      round != round_) {
    return;
  }
  auto it = cohort_.find(client_id);
  if (it == cohort_.end() || it->second == ClientRoundState::kAccepted ||
      it->second == ClientRoundState::kRejected) {
    return;
  }
  it->second = ClientRoundState::kRejected;
  ++rejected_;
  spdlog::warn("round {}: rejected update from {}: {}", round_, client_id,
               why.message());
  wake_.notify_all();
}

absl::Status RoundEngine::CheckSecureRoundLocked(const std::string& client_id,
                                                 const std::string& run_id,
                                                 uint64_t round) const {
  if (clients_.count(client_id) == 0) {
    return absl::NotFoundError(
        absl::StrCat("unknown client '", client_id, "': register first"));
  }
  if (run_id != config_.run_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("message names run '", run_id, "', active run is '",
                     config_.run_id, "'"));
  }
  if (phase_ != Phase::kTraining || round != round_ ||
      secure_round_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("no secure aggregation is open for round ", round,
                     " (current round ", round_, ")"));
  }
  if (cohort_.count(client_id) == 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "client '", client_id, "' was not selected for round ", round_));
  }
  return absl::OkStatus();
}

absl::StatusOr<SecAggExchangeReply> RoundEngine::SecAggExchange(
    const std::string& client_id, const std::string& run_id, uint64_t round,
    const v1::SecAggClientMessage* message) {
  std::lock_guard<std::mutex> lock(mu_);
  TouchLocked(client_id);
  SecAggExchangeReply reply;
  reply.retry_after_ms = std::min<uint32_t>(config_.poll_interval_ms, 100);
  if (absl::Status s = CheckSecureRoundLocked(client_id, run_id, round);
      !s.ok()) {
    // A round that ended (completed or aborted) is not an error for a
    // client that was part of it: tell it to stop.
    if (absl::IsFailedPrecondition(s) && run_id == config_.run_id &&
        round <= round_) {
      reply.aborted = true;
      reply.reason = std::string(s.message());
      return reply;
    }
    return s;
  }
  // A retried round keeps its number, so a selected client that has not
  // fetched this attempt's task is still in an earlier attempt's session,
  // which is gone: tell it to stop (it will fetch the new task), and do not
  // count its message as an answer to this attempt.
  if (cohort_[client_id] == ClientRoundState::kSelected) {
    reply.aborted = true;
    reply.reason = absl::StrCat("round ", round_, " was restarted (attempt ",
                                attempt_, "): fetch the new task");
    return reply;
  }
  if (message != nullptr) {
    // Once in the protocol, the client has answered this round's task: it
    // must not fetch (and train on) it again.
    cohort_[client_id] = ClientRoundState::kAccepted;
    absl::Status handled = secure_round_->HandleMessage(client_id, *message);
    wake_.notify_all();
    if (!handled.ok()) return handled;
  }
  reply.message = secure_round_->PendingMessageFor(client_id);
  return reply;
}

absl::Status RoundEngine::SubmitMaskedInput(const std::string& client_id,
                                            const std::string& run_id,
                                            uint64_t round,
                                            std::vector<uint32_t> masked) {
  std::lock_guard<std::mutex> lock(mu_);
  TouchLocked(client_id);
  if (absl::Status s = CheckSecureRoundLocked(client_id, run_id, round);
      !s.ok()) {
    return s;
  }
  absl::Status s = secure_round_->HandleMaskedInput(client_id, masked);
  wake_.notify_all();
  return s;
}

size_t RoundEngine::MaskedInputLength() const {
  std::lock_guard<std::mutex> lock(mu_);
  return secure_round_ != nullptr ? secure_round_->encoded_length() : 0;
}

std::vector<std::string> RoundEngine::LiveClientsLocked() const {
  std::vector<std::string> live;
  const TimePoint now = clock_->Now();
  for (const auto& [id, record] : clients_) {
    if (!record.left && now - record.last_seen <= config_.client_liveness) {
      live.push_back(id);
    }
  }
  return live;  // std::map order: sorted, so sampling is reproducible
}

std::string RoundEngine::DescribeAbsentClientsLocked(
    const std::vector<std::string>& live) const {
  std::vector<std::string> absent;
  const TimePoint now = clock_->Now();
  for (const auto& [id, record] : clients_) {
    if (std::binary_search(live.begin(), live.end(), id)) continue;
    auto d = departures_.find(id);
    if (d != departures_.end()) {
      absent.push_back(absl::StrCat(id, " (failed: ", d->second.reason, ")"));
    } else if (record.left) {
      absent.push_back(absl::StrCat(id, " (left)"));
    } else {
      absent.push_back(absl::StrCat(
          id, " (silent for ",
          static_cast<int64_t>(
              std::chrono::duration<double>(now - record.last_seen).count()),
          " s)"));
    }
  }
  return DescribeClientList(absent);
}

size_t RoundEngine::FixedCohortSize(size_t live) const {
  const size_t k =
      config_.clients_per_round > 0
          ? static_cast<size_t>(config_.clients_per_round)
          : static_cast<size_t>(std::ceil(config_.fraction * live));
  return std::clamp<size_t>(k, 1, live);
}

std::vector<std::string> RoundEngine::SampleCohortLocked(
    std::vector<std::string> live) {
  if (dp_ != nullptr) return dp_->SampleCohort(live);
  const size_t k = FixedCohortSize(live.size());
  std::mt19937_64 rng(config_.seed ^ (round_ << 20) ^ uint64_t(attempt_));
  std::shuffle(live.begin(), live.end(), rng);
  live.resize(k);
  return live;
}

bool RoundEngine::TryStartRoundLocked() {
  std::vector<std::string> live = LiveClientsLocked();
  if (static_cast<int>(live.size()) < config_.min_clients) {
    std::string reason = absl::StrCat("waiting for clients: ", live.size(),
                                      " of ", config_.min_clients, " connected");
    const std::string missing = DescribeAbsentClientsLocked(live);
    if (!missing.empty()) absl::StrAppend(&reason, "; not live: ", missing);
    if (reason != waiting_reason_) spdlog::info("{}", reason);
    waiting_reason_ = std::move(reason);
    return false;
  }
  if (dp_ == nullptr) {
    const size_t k = FixedCohortSize(live.size());
    if (static_cast<int>(k) < config_.min_updates) {
      waiting_reason_ =
          absl::StrCat("waiting for clients: sampling ", k,
                       " cannot reach min_updates ", config_.min_updates);
      return false;
    }
  }
  waiting_reason_.clear();
  ++attempt_;
  const size_t population = live.size();
  std::vector<std::string> cohort = SampleCohortLocked(std::move(live));
  const int needed = std::max(config_.min_updates, config_.secagg.enabled ? 3 : 1);
  if (static_cast<int>(cohort.size()) < needed) {
    // Only Poisson sampling can come out this small. Nothing was sent to
    // anyone, so nothing is released or charged: try again next tick.
    const std::string why = absl::StrCat(
        "round ", round_, " attempt ", attempt_, ": Poisson sampling at rate ",
        config_.dp.sampling_rate, " chose ", cohort.size(), " of ", population,
        " clients, need ", needed);
    if (attempt_ >= config_.max_round_attempts) {
      EndRunLocked(absl::FailedPreconditionError(absl::StrCat(
          why, "; giving up after ", attempt_,
          " attempts (raise dp.sampling_rate or add clients)")));
    } else {
      spdlog::warn("{}", why);
    }
    return false;
  }
  cohort_.clear();
  for (const std::string& id : cohort) cohort_[id] = ClientRoundState::kSelected;
  aggregator_.Reset();
  loss_sum_ = 0.0;
  dp_indicator_sum_ = 0.0;
  rejected_ = 0;
  round_started_ = clock_->Now();
  round_deadline_ = round_started_ + config_.round_timeout;
  deadline_unix_ms_ = clock_->UnixMillis() + config_.round_timeout.count();
  dp_plan_.reset();
  dp_task_.reset();
  if (dp_ != nullptr) {
    absl::StatusOr<DpRoundPlan> plan = dp_->PlanRound(
        static_cast<int>(population), static_cast<int>(cohort.size()),
        config_.secagg.modulus_bits, dimension_);
    if (!plan.ok()) {
      EndRunLocked(absl::FailedPreconditionError(absl::StrCat(
          "round ", round_, ": cannot plan the private round: ",
          plan.status().message())));
      return false;
    }
    // A round whose release would overspend the budget never starts; the
    // run ends as complete with every released round on disk.
    if (absl::Status budget = dp_->CheckBudget(*plan); !budget.ok()) {
      spdlog::warn("round {}: {}", round_, budget.message());
      cohort_.clear();
      EndRunLocked(absl::OkStatus(), std::string(budget.message()));
      return false;
    }
    dp_plan_ = *std::move(plan);
    dp_task_ = std::make_shared<const v1::DpTaskConfig>(dp_plan_->task);
  }
  if (config_.secagg.enabled) {
    std::vector<std::string> sorted_cohort(cohort.begin(), cohort.end());
    std::sort(sorted_cohort.begin(), sorted_cohort.end());
    // Without DP, the encoding fits this cohort (common/secagg/
    // input_encoding.h): the largest q it allows, and max_weight from the
    // largest declared example count, so small sites keep full precision.
    // One count limb: SecureRound sizes vectors by EncodedLength(D) = D + 2.
    SecAggRoundConfig secagg = config_.secagg;
    if (dp_ == nullptr) {
      uint64_t largest = 1;
      for (const std::string& id : sorted_cohort) {
        auto it = clients_.find(id);
        if (it == clients_.end()) continue;
        largest = std::max(largest, std::min(it->second.num_examples,
                                             config_.max_examples_per_update));
      }
      absl::StatusOr<EncodingParameters> chosen = ChooseCohortEncoding(
          secagg.Encoding(static_cast<int>(sorted_cohort.size())),
          static_cast<int>(sorted_cohort.size()), largest,
          /*max_count_limbs=*/1);
      if (!chosen.ok()) {
        EndRunLocked(absl::FailedPreconditionError(absl::StrCat(
            "round ", round_, ": cannot encode for secure aggregation: ",
            chosen.status().message())));
        return false;
      }
      secagg.quantization_bits = chosen->quantization_bits;
      secagg.max_weight = chosen->max_weight;
      spdlog::info(
          "round {} attempt {}: secure encoding q={} bits, max_weight={} "
          "(largest declared example count {})",
          round_, attempt_, secagg.quantization_bits, secagg.max_weight,
          largest);
    }
    absl::StatusOr<std::unique_ptr<SecureRound>> secure = SecureRound::Start(
        secagg, round_, attempt_, std::move(sorted_cohort), dimension_,
        round_deadline_, dp_task_.get());
    if (!secure.ok()) {
      EndRunLocked(absl::FailedPreconditionError(absl::StrCat(
          "round ", round_,
          ": cannot start secure aggregation: ", secure.status().message())));
      return false;
    }
    secure_round_ = *std::move(secure);
    secagg_config_ = std::make_shared<const v1::SecAggConfig>(
        secure_round_->protocol_config());
  }
  phase_ = Phase::kTraining;
  spdlog::info("round {} attempt {}: selected {} of {} live clients{}", round_,
               attempt_, cohort.size(), population,
               dp_ != nullptr ? " (Poisson sampling)" : "");
  return true;
}

bool RoundEngine::RoundCompleteLocked() const {
  for (const auto& [id, state] : cohort_) {
    if (state == ClientRoundState::kSelected ||
        state == ClientRoundState::kTaskSent) {
      return false;
    }
  }
  return true;
}

void RoundEngine::EndRunLocked(absl::Status outcome,
                               std::string finished_early) {
  phase_ = outcome.ok() ? Phase::kFinished : Phase::kFailed;
  outcome_ = outcome;
  finished_reason_ = std::move(finished_early);
  cohort_.clear();
  secure_round_.reset();
  if (outcome.ok() && !finished_reason_.empty()) {
    spdlog::info("run {} finished before round {}: {}", config_.run_id, round_,
                 finished_reason_);
  } else if (outcome.ok()) {
    spdlog::info("run {} finished after round {}", config_.run_id,
                 config_.num_rounds);
  } else {
    spdlog::error("run {} failed: {}", config_.run_id, outcome.message());
  }
  for (const auto& [id, d] : departures_) {
    spdlog::warn("run {}: site {} could not take part: {}", config_.run_id, id,
                 d.reason);
  }
  wake_.notify_all();
}

void RoundEngine::RetryOrFailLocked(std::unique_lock<std::mutex>& lock,
                                    const std::string& reason,
                                    const std::string& advice) {
  cohort_.clear();
  secure_round_.reset();
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

void RoundEngine::CloseRound(std::unique_lock<std::mutex>& lock) {
  const int accepted = static_cast<int>(aggregator_.count());
  if (accepted < config_.min_updates) {
    RetryOrFailLocked(
        lock,
        absl::StrCat("round ", round_, " attempt ", attempt_, ": ", accepted,
                     " accepted update(s) of ", cohort_.size(), " selected (",
                     rejected_,
                     " rejected), need min_updates=", config_.min_updates),
        "lower min_updates, raise round_timeout or add clients");
    return;
  }
  if (dp_ != nullptr) {
    RoundSummary summary;
    summary.selected = static_cast<int>(cohort_.size());
    summary.participants = accepted;
    summary.rejected = rejected_;
    summary.total_examples = std::nan("");
    summary.train_loss = std::nan("");
    PrivateSum sum;
    sum.update_sum = aggregator_.TakeSum();
    sum.indicator_sum = dp_indicator_sum_;
    ReleaseDpRoundLocked(lock, std::move(sum), summary);
    return;
  }
  // Aggregate: global + lr * weighted mean delta.
  FlatModel next{global_->spec, global_->values.Clone()};
  // Cannot fail: accepted >= min_updates >= 1 and the sizes match.
  absl::Status applied = aggregator_.AddWeightedMeanTo(
      next.values.span(), config_.server_learning_rate);
  if (!applied.ok()) {
    EndRunLocked(
        absl::InternalError(absl::StrCat("aggregation: ", applied.message())));
    return;
  }
  RoundSummary summary;
  summary.selected = static_cast<int>(cohort_.size());
  summary.participants = accepted;
  summary.rejected = rejected_;
  summary.total_examples = aggregator_.total_weight();
  summary.train_loss = loss_sum_ / aggregator_.total_weight();
  FinishRoundLocked(lock, std::move(next), summary);
}

void RoundEngine::CloseSecureRound(std::unique_lock<std::mutex>& lock,
                                   SecureRound::Status status) {
  const std::string where =
      absl::StrCat("round ", round_, " attempt ", attempt_);
  if (status == SecureRound::Status::kAborted) {
    RetryOrFailLocked(
        lock,
        absl::StrCat(where, ": secure aggregation aborted: ",
                     secure_round_->abort_reason().message()),
        "raise secagg.dropout_rate or secagg.phase_timeout_s, or add clients");
    return;
  }
  const int participants = secure_round_->participants();
  if (dp_ != nullptr) {
    absl::StatusOr<PrivateSum> sum = secure_round_->TakePrivateSum();
    if (!sum.ok() || participants < config_.min_updates) {
      RetryOrFailLocked(
          lock,
          absl::StrCat(where, ": ",
                       sum.ok() ? absl::StrCat(participants,
                                               " masked inputs, need min_updates=",
                                               config_.min_updates)
                                : std::string(sum.status().message())),
          "lower min_updates, raise round_timeout or add clients");
      return;
    }
    RoundSummary summary;
    summary.selected = static_cast<int>(cohort_.size());
    summary.participants = participants;
    summary.rejected = static_cast<int>(cohort_.size()) - participants;
    summary.total_examples = std::nan("");
    summary.train_loss = std::nan("");
    summary.secure = true;
    ReleaseDpRoundLocked(lock, *std::move(sum), summary);
    return;
  }
  absl::StatusOr<DecodedAggregate> aggregate = secure_round_->TakeAggregate();
  if (!aggregate.ok() || participants < config_.min_updates) {
    RetryOrFailLocked(
        lock,
        absl::StrCat(where, ": ",
                     aggregate.ok()
                         ? absl::StrCat(participants,
                                        " masked inputs, need min_updates=",
                                        config_.min_updates)
                         : std::string(aggregate.status().message())),
        "lower min_updates, raise round_timeout or add clients");
    return;
  }
  // The round's own encoding, rebuilt from what its clients were sent.
  absl::StatusOr<InputEncoder> encoder = InputEncoder::Create(
      EncodingParametersFromProto(secure_round_->encoding()));
  if (!encoder.ok()) {
    EndRunLocked(absl::InternalError(absl::StrCat(
        where, ": secure encoding: ", encoder.status().message())));
    return;
  }
  const QuantizationErrorBound error =
      encoder->BoundQuantizationError(*aggregate, participants);
  spdlog::info(
      "{}: secure mean of {} inputs ({} examples): quantization error <= {:.3g} "
      "per coordinate, <= {:.3g} relative (worst case), ~{:.3g} relative (RMS)",
      where, participants, aggregate->total_examples, error.max_abs_error,
      error.max_relative_error, error.rms_relative_error);
  const double allowed = config_.secagg_error.max_relative_error;
  if (allowed > 0 && !(error.max_relative_error <= allowed)) {
    // +inf: the error bound exceeds the decoded mean itself.
    const std::string excess = absl::StrCat(
        where, ": secure aggregation's worst-case relative quantization error ",
        std::isfinite(error.max_relative_error)
            ? absl::StrCat(error.max_relative_error)
            : std::string("(unbounded: it may exceed the mean itself)"),
        " exceeds secagg.max_relative_error ", allowed);
    const std::string advice = absl::StrCat(
        "this round already used the largest secagg.quantization_bits its "
        "cohort allows (", encoder->params().quantization_bits,
        "): raise secagg.modulus_bits, lower secagg.clip_range towards the "
        "updates' magnitude, or lower secagg.max_weight if one site's "
        "declared example count dwarfs the others'");
    if (config_.secagg_error.fail) {
      RetryOrFailLocked(lock, excess, advice);
      return;
    }
    spdlog::warn("{} ({})", excess, advice);
  }
  FlatModel next = NextGlobalLocked(aggregate->weighted_mean.span());
  RoundSummary summary;
  summary.selected = static_cast<int>(cohort_.size());
  summary.participants = participants;
  summary.rejected = static_cast<int>(cohort_.size()) - participants;
  summary.total_examples = static_cast<double>(aggregate->total_examples);
  summary.quantization_error = error;
  summary.train_loss = aggregate->mean_loss;
  summary.secure = true;
  FinishRoundLocked(lock, std::move(next), summary);
}

FlatModel RoundEngine::NextGlobalLocked(absl::Span<const float> update) const {
  FlatModel next{global_->spec, global_->values.Clone()};
  const float lr = static_cast<float>(config_.server_learning_rate);
  for (size_t i = 0; i < next.values.size(); ++i) next.values[i] += lr * update[i];
  return next;
}

void RoundEngine::ReleaseDpRoundLocked(std::unique_lock<std::mutex>& lock,
                                       PrivateSum sum, RoundSummary summary) {
  absl::StatusOr<DpRelease> release =
      dp_->Release(*dp_plan_, std::move(sum), summary.participants);
  if (!release.ok()) {
    RetryOrFailLocked(
        lock,
        absl::StrCat("round ", round_, " attempt ", attempt_, ": ",
                     release.status().message()),
        "raise dp.dropout_tolerance or secagg.phase_timeout_s, or add clients");
    return;
  }
  FlatModel next = NextGlobalLocked(release->mean_update);
  RoundSummary::Dp dp;
  dp.mode = DpModeName(config_.dp.mode);
  dp.epsilon = release->epsilon;
  dp.delta = release->delta;
  dp.noise_multiplier = dp_->noise_multiplier();
  dp.sampling_rate = config_.dp.sampling_rate;
  dp.expected_clients = dp_plan_->expected_clients;
  dp.clip_norm = release->clip_norm;
  dp.unclipped_fraction = release->unclipped_fraction;
  dp.state = dp_->state();
  summary.dp = std::move(dp);
  FinishRoundLocked(lock, std::move(next), std::move(summary));
}

void RoundEngine::FinishRoundLocked(std::unique_lock<std::mutex>& lock,
                                    FlatModel next, RoundSummary summary) {
  summary.run_id = config_.run_id;
  summary.round = round_;
  summary.attempt = attempt_;
  summary.model_version = round_;
  if (secure_round_ == nullptr) {
    for (const auto& [id, state] : cohort_) {
      if (state != ClientRoundState::kAccepted) summary.dropped.push_back(id);
    }
  } else {
    const std::vector<std::string> survivors = secure_round_->survivors();
    for (const auto& [id, state] : cohort_) {
      if (!std::binary_search(survivors.begin(), survivors.end(), id)) {
        summary.dropped.push_back(id);
      }
    }
  }
  for (const auto& [id, d] : departures_) summary.failed_sites.push_back(d);
  if (!summary.dropped.empty()) {
    spdlog::info("round {}: {} selected client(s) dropped: {}", round_,
                 summary.dropped.size(), DescribeClientList(summary.dropped));
  }
  phase_ = Phase::kClosing;
  cohort_.clear();
  secure_round_.reset();
  std::vector<RoundListener*> listeners = listeners_;
  const TimePoint started = round_started_;

  lock.unlock();
  auto next_model = std::make_shared<const FlatModel>(std::move(next));
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
    EndRunLocked(failure);
    return;
  }
  global_ = std::move(next_model);
  ++round_;
  attempt_ = 0;
  if (round_ > static_cast<uint64_t>(config_.num_rounds)) {
    EndRunLocked(absl::OkStatus());
  } else {
    phase_ = Phase::kWaitingForClients;
  }
}

void RoundEngine::Tick() {
  std::unique_lock<std::mutex> lock(mu_);
  switch (phase_) {
    case Phase::kWaitingForClients:
      TryStartRoundLocked();
      return;
    case Phase::kTraining:
      if (secure_round_ != nullptr) {
        const SecureRound::Status status = secure_round_->Poll(clock_->Now());
        if (status == SecureRound::Status::kRunning) return;
        CloseSecureRound(lock, status);
        if (phase_ == Phase::kWaitingForClients) TryStartRoundLocked();
        return;
      }
      if (RoundCompleteLocked() || clock_->Now() >= round_deadline_) {
        CloseRound(lock);
        if (phase_ == Phase::kWaitingForClients) TryStartRoundLocked();
      }
      return;
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

RoundEngine::Phase RoundEngine::phase() const {
  std::lock_guard<std::mutex> lock(mu_);
  return phase_;
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

}  // namespace fedlearn
