#include "client/client_session.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/client_session_steps.h"
#include "client/training/record_privacy_budget.h"
#include "client/update_encoding.h"
#include "common/config/qffl_update.h"
#include "common/flat/spec_mismatch.h"
#include "common/util/atomic_file.h"
#include "common/util/escape.h"
#include "common/util/log.h"
#include "common/util/status_class.h"
#include "common/util/status_macros.h"
#include "common/wire/model_file.h"
#include "nlohmann/json.hpp"

namespace fedlearn {
namespace {

using session_steps::Failed;
using session_steps::Result;
using session_steps::UploadLost;

// A failed GetContract, Register or FetchTask. PERMISSION_DENIED there is
// the coordinator refusing this site's certificate (not enrolled for the
// run, revoked, not a site's role): no retry changes that, so it is
// permanent (the daemon exits 78) and says whom to ask.
ClientSession::StepResult FailedCall(absl::Status status) {
  if (!absl::IsPermissionDenied(status)) return Failed(std::move(status));
  return Failed(MarkPermanent(absl::PermissionDeniedError(absl::StrCat(
      "the coordinator refused this site's identity: ", status.message(),
      ". Ask the coordinator's operator to enrol this site (or to issue it "
      "a new certificate)"))));
}

}  // namespace

ClientSession::ClientSession(CoordinatorTransport* transport,
                             RunPreparer* preparer, TrainingSlots* slots,
                             Options options)
    : transport_(transport),
      preparer_(preparer),
      slots_(slots),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &system_clock_) {}

ClientSession::ClientSession(CoordinatorTransport* transport,
                             LocalTrainer* trainer, TrainingSlots* slots,
                             Options options)
    : transport_(transport),
      owned_preparer_(std::make_unique<FixedTrainerPreparer>(trainer)),
      preparer_(owned_preparer_.get()),
      slots_(slots),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &system_clock_) {}

ClientSession::~ClientSession() = default;

ClientSession::StepResult ClientSession::FailPermanently(absl::Status status) {
  status = MarkPermanent(std::move(status));
  spdlog::error("cannot take part in this run: {}", status.message());
  if (absl::Status s =
          transport_->Leave(/*permanent=*/true, std::string(status.message()));
      !s.ok()) {
    spdlog::warn("could not tell the coordinator: {}", s.message());
  }
  registered_ = false;
  return Failed(std::move(status));
}

ClientSession::StepResult ClientSession::Prepare() {
  absl::StatusOr<ReceivedContract> offer = transport_->GetContract();
  if (!offer.ok()) return FailedCall(offer.status());
  absl::StatusOr<LocalTrainer*> trainer = preparer_->Prepare(offer->contract);
  if (!trainer.ok()) {
    return FailPermanently(absl::Status(
        trainer.status().code(),
        absl::StrCat("this site does not meet the contract of run '",
                     EscapeUntrusted(offer->contract.run_id(), 64),
                     "': ", trainer.status().message())));
  }
  eval_layout_.reset();
  evaluator_ = nullptr;
  if (offer->contract.has_evaluation()) {
    absl::StatusOr<EvalLayout> layout =
        EvalLayout::FromContract(offer->contract);
    if (!layout.ok()) {
      return FailPermanently(absl::Status(
          layout.status().code(),
          absl::StrCat("the run's federated evaluation spec is invalid: ",
                       layout.status().message())));
    }
    eval_layout_ = *layout;
    evaluator_ = preparer_->Evaluator();
  }
  trainer_ = *trainer;
  contract_digest_ = offer->digest;
  registered_ = false;
  spdlog::info(
      "prepared for run '{}' (contract {}): {} model, {} local examples",
      EscapeUntrusted(offer->contract.run_id(), 64),
      contract_digest_.substr(0, 12),
      EscapeUntrusted(offer->contract.model().architecture(), 32),
      trainer_->NumExamples());
  if (eval_layout_.has_value()) {
    spdlog::info("federated evaluation: {} held-out examples",
                 evaluator_ != nullptr ? evaluator_->NumExamples() : 0);
  }
  return Result(StepKind::kPrepared);
}

void ClientSession::LeaveRun(const std::string& reason) {
  if (!registered_) return;
  if (absl::Status s = transport_->Leave(/*permanent=*/false, reason);
      !s.ok()) {
    spdlog::warn("could not tell the coordinator we are leaving: {}",
                 s.message());
  }
  registered_ = false;
}

bool ClientSession::NextStepComputes() const {
  // Only training: preparing is one GetContract RPC and brief local checks,
  // and it must not queue behind other clients' trainings.
  return task_.has_value();
}

ClientSession::StepResult ClientSession::Step(const std::atomic<bool>& cancel) {
  StepResult result = StepOnce(cancel);
  if (options_.observer != nullptr) options_.observer->OnState(State());
  return result;
}

SessionState ClientSession::State() const {
  if (!registered_) return SessionState::kPreparing;
  if (secure_upload_ != nullptr || plain_upload_) {
    return SessionState::kUploading;
  }
  return task_ ? SessionState::kTraining : SessionState::kIdle;
}

ClientSession::StepResult ClientSession::Refused(TaskRefusal reason,
                                                 StepResult r) {
  if (options_.observer != nullptr) options_.observer->OnTaskRefused(reason);
  return r;
}

ClientSession::StepResult ClientSession::StepOnce(
    const std::atomic<bool>& cancel) {
  if (cancel.load()) return Failed(absl::CancelledError("client stopping"));
  if (secure_upload_ != nullptr) return AdvanceSecureUpload();
  if (plain_upload_) return PushPlainUpload();
  if (task_) return Train(cancel);
  if (trainer_ == nullptr) return Prepare();
  if (!registered_) return RegisterWithRun();
  return OnFetchReply(transport_->FetchTask(run_id_, last_round_));
}

ClientSession::StepResult ClientSession::RegisterWithRun() {
  absl::StatusOr<RegisterReply> reply =
      transport_->Register(trainer_->NumExamples(), contract_digest_);
  if (!reply.ok()) {
    // The run's contract may have changed (a restarted coordinator with a
    // new configuration): fetch it again before the next attempt.
    if (absl::IsFailedPrecondition(reply.status())) trainer_ = nullptr;
    return FailedCall(reply.status());
  }
  registered_ = true;
  run_id_ = reply->run_id;
  client_id_ = reply->client_id;
  // Load the secure-aggregation identity now, not in a round; a failure is
  // reported by the first secure round, which loads again.
  if (!options_.identity.insecure) (void)SecureIdentity();
  spdlog::info("registered with run '{}' as '{}' ({} local examples)", run_id_,
               client_id_, trainer_->NumExamples());
  if (options_.observer != nullptr) options_.observer->OnRegistered();
  return Result(StepKind::kRegistered);
}

ClientSession::StepResult ClientSession::OnFetchReply(
    absl::StatusOr<FetchReply> reply) {
  if (!reply.ok()) {
    // The coordinator forgot us (restarted): register again next step.
    if (absl::IsNotFound(reply.status())) registered_ = false;
    return FailedCall(reply.status());
  }
  if (!reply->task) {
    if (reply->run_halted) {
      // Not the end of the run: the operator fixes the coordinator's storage
      // and restarts it, and it resumes. Transient: the daemon backs off.
      return Failed(absl::UnavailableError(absl::StrCat(
          "the coordinator halted the run (it could not write its state: ",
          EscapeUntrusted(reply->reason, 500),
          "); waiting for it to be restarted")));
    }
    StepResult r =
        Result(reply->run_finished ? StepKind::kRunFinished : StepKind::kIdle);
    r.retry_after_ms = reply->retry_after_ms;
    r.waited = reply->waited;
    if (reply->run_failed) {
      r.status = absl::AbortedError(
          absl::StrCat("the coordinator reports the run failed: ",
                       EscapeUntrusted(reply->reason, 500)));
    }
    return r;
  }
  if (std::optional<StepResult> refused = RefuseTask(*reply->task)) {
    return *std::move(refused);
  }
  run_id_ = reply->task->run_id;
  const uint64_t round = reply->task->round;
  task_ = *std::move(reply->task);
  return Result(StepKind::kTaskReceived, round);
}

std::optional<ClientSession::StepResult> ClientSession::RefuseTask(
    const ReceivedTask& task) {
  if (!task.contract_digest.empty() &&
      task.contract_digest != contract_digest_) {
    trainer_ = nullptr;
    registered_ = false;
    return Refused(
        TaskRefusal::kContractMismatch,
        Failed(absl::FailedPreconditionError(absl::StrCat(
            "the run's contract changed: this client prepared contract ",
            EscapeUntrusted(contract_digest_, 16),
            ", the coordinator runs contract ",
            EscapeUntrusted(task.contract_digest, 16), "; preparing again"))));
  }
  if (!task.model.spec.CompatibleWith(trainer_->Spec())) {
    return Refused(
        TaskRefusal::kContractMismatch,
        Failed(absl::FailedPreconditionError(absl::StrCat(
            "round ", task.round,
            ": the coordinator's model does not match "
            "the local model (",
            DescribeSpecMismatch(trainer_->Spec(), "this client prepared",
                                 task.model.spec, "the coordinator runs"),
            "); check that both sides use the same architecture"))));
  }
  if (absl::Status s = CheckDeadline(task); !s.ok()) {
    return Refused(TaskRefusal::kStale, Failed(s));
  }
  if (absl::Status s = CheckPrivacyRequirement(task, options_.privacy);
      !s.ok()) {
    // The run's privacy settings are fixed: every later task would be
    // refused too.
    return Refused(TaskRefusal::kPrivacyFloor, FailPermanently(s));
  }
  return std::nullopt;
}

absl::Status ClientSession::CheckDeadline(const ReceivedTask& task) const {
  if (task.deadline_unix_ms > 0 &&
      clock_->UnixMillis() > task.deadline_unix_ms) {
    return absl::DeadlineExceededError(
        absl::StrCat("round ", task.round, " deadline passed before training"));
  }
  return absl::OkStatus();
}

ClientSession::StepResult ClientSession::Train(
    const std::atomic<bool>& cancel) {
  ReceivedTask task = *std::move(task_);
  task_.reset();
  if (absl::Status s = CheckDeadline(task); !s.ok()) {
    return Refused(TaskRefusal::kStale, Failed(s));
  }
  // Longest job first (training_slots.h): the larger site waits less.
  if (slots_ != nullptr &&
      !slots_->Acquire(cancel, static_cast<int64_t>(trainer_->NumExamples()))) {
    return Failed(absl::CancelledError("client stopping"));
  }
  if (options_.observer != nullptr) {
    options_.observer->OnState(SessionState::kTraining);
  }
  training_ = true;
  std::optional<SiteEvalReport> report;
  absl::StatusOr<TrainingResult> result =
      EvaluateAndTrain(task, cancel, &report);
  training_ = false;
  if (slots_ != nullptr) slots_->Release();
  if (!result.ok()) {
    // A training cancelled on shutdown is not this task's failure.
    if (absl::IsCancelled(result.status())) return Failed(result.status());
    // Refused untrained by the site's record-level budget: a privacy floor.
    if (IsRecordBudgetRefusal(result.status())) {
      return Refused(TaskRefusal::kPrivacyFloor,
                     FailPermanently(result.status()));
    }
    return Refused(TaskRefusal::kTrainingError, Failed(result.status()));
  }
  if (cancel.load()) return Failed(absl::CancelledError("client stopping"));
  task.model.values = FlatVector();  // the global model is no longer needed
  if (task.evaluation && task.evaluation->evaluate_only()) {
    // Nothing trained: no clipping, transform or record of a zero update.
    summary_ = {result->num_examples, 0, 0};
    return Upload(std::move(task), *std::move(result), ClipOutcome{},
                  std::move(report));
  }
  if (options_.observer != nullptr)
    options_.observer->OnTrained(result->seconds);

  absl::StatusOr<ClipOutcome> clip = ClipUpdateForRound(task, &*result);
  if (!clip.ok()) {
    return Refused(TaskRefusal::kTrainingError, Failed(clip.status()));
  }
  if (task.dp) {
    spdlog::info("round {}: update norm {:.4f}, clip norm {:.4f}{}", task.round,
                 clip->norm_before, task.dp->clip_norm(),
                 clip->clipped ? " (clipped)" : "");
  }
  if (!options_.record_updates_dir.empty()) {
    if (absl::Status s = RecordUpdate(task, *result); !s.ok()) {
      return Refused(TaskRefusal::kOther, Failed(s));
    }
  }
  summary_ = {result->num_examples, result->train_loss, result->seconds};
  // q-FFL: the D + 1 q-FedAvg values replace the delta (a no-op otherwise).
  if (absl::Status s = PrepareQfflUpdate(task, &*result); !s.ok()) {
    return Refused(TaskRefusal::kTrainingError, Failed(s));
  }
  return Upload(std::move(task), *std::move(result), *clip, std::move(report));
}

absl::StatusOr<TrainingResult> ClientSession::EvaluateAndTrain(
    const ReceivedTask& task, const std::atomic<bool>& cancel,
    std::optional<SiteEvalReport>* report) {
  if (task.evaluation) {
    ASSIGN_OR_RETURN(*report,
                     EvaluateForTask(task, eval_layout_, evaluator_, cancel));
    spdlog::info(
        "round {}: evaluated model version {}: {} of {} held-out "
        "examples correct",
        task.round, task.model_version, (*report)->correct,
        (*report)->examples);
    if (task.evaluation->evaluate_only()) {
      TrainingResult zero;  // the round leaves the model as it is
      // q-FFL tasks: the coordinator expects its D + 1 values, here zero.
      const size_t d = task.model.values.size();
      zero.delta =
          FlatVector(QfflEnabled(task.training) ? QfflUpdateValues(d) : d);
      zero.num_examples = trainer_->NumExamples();
      return zero;
    }
  }
  return trainer_->Train(task.model.values, task.training, cancel);
}

ClientSession::StepResult ClientSession::Upload(
    ReceivedTask task, TrainingResult result, const ClipOutcome& clip,
    std::optional<SiteEvalReport> report) {
  if (task.secagg) {
    return StartSecureUpload(std::move(task), result, clip,
                             report ? &*report : nullptr);
  }
  PlainUpload upload;
  upload.header.run_id = task.run_id;
  upload.header.round = task.round;
  upload.header.model_version = task.model_version;
  upload.header.num_examples = result.num_examples;
  upload.header.train_loss = result.train_loss;
  upload.header.train_seconds = result.seconds;
  if (report) upload.header.eval_report = report->ToVector(*eval_layout_);
  upload.delta = std::move(result.delta);
  plain_upload_ = std::move(upload);
  return Result(StepKind::kUploading, task.round);
}

absl::StatusOr<SecAggIdentity> ClientSession::SecureIdentity() {
  return secagg_identity_.Get(client_id_, [&] {
    return LoadSecAggIdentity(client_id_, options_.identity);
  });
}

ClientSession::StepResult ClientSession::StartSecureUpload(
    ReceivedTask task, const TrainingResult& result, const ClipOutcome& clip,
    const SiteEvalReport* report) {
  // Distributed DP: never help unmask a sum with less noise than planned,
  // whatever the secure-aggregation config says.
  if (task.dp && task.dp->mode() == v1::DpTaskConfig::DISTRIBUTED &&
      task.secagg->min_survivors() < task.dp->min_clients()) {
    task.secagg->set_min_survivors(task.dp->min_clients());
  }
  std::optional<SecretBytes> rounding_seed;
  if (options_.simulation_rounding_seed.has_value()) {
    rounding_seed = SimulationRoundingSeed(*options_.simulation_rounding_seed,
                                           client_id_, task.run_id, task.round);
  }
  absl::StatusOr<std::vector<uint32_t>> encoded = EncodeForSecureAggregation(
      task, result, clip, rounding_seed ? &*rounding_seed : nullptr);
  if (!encoded.ok()) {
    return Refused(TaskRefusal::kTrainingError, Failed(encoded.status()));
  }
  // Federated evaluation: the report's codec values after the update's.
  if (report != nullptr) {
    if (absl::Status s =
            AppendEvalReport(task, *eval_layout_, *report, &*encoded);
        !s.ok()) {
      return Refused(TaskRefusal::kTrainingError, Failed(s));
    }
  }
  absl::StatusOr<SecAggIdentity> identity = SecureIdentity();
  if (!identity.ok()) {
    return Refused(TaskRefusal::kOther, Failed(identity.status()));
  }
  // Per-site federated evaluation: the report also goes in the clear.
  std::vector<uint64_t> clear_report;
  if (report != nullptr && task.evaluation && task.evaluation->per_site()) {
    clear_report = report->ToVector(*eval_layout_);
  }
  absl::StatusOr<std::unique_ptr<SecureUpload>> upload = SecureUpload::Start(
      task, *std::move(encoded), *std::move(identity),
      clock_->Now() + options_.secagg_timeout, std::move(clear_report));
  if (!upload.ok()) {
    return Refused(TaskRefusal::kOther, Failed(upload.status()));
  }
  secure_upload_ = *std::move(upload);
  return Result(StepKind::kUploading, task.round);
}

ClientSession::StepResult ClientSession::PushPlainUpload() {
  PlainUpload upload = *std::move(plain_upload_);
  plain_upload_.reset();  // pushed whole now, or never
  upload.header.delta = &upload.delta;
  if (absl::Status s = transport_->PushResult(upload.header); !s.ok()) {
    // A busy coordinator (RESOURCE_EXHAUSTED: upload buffers or this
    // client's rate) refuses before it reads a value: the same update goes
    // again at the next step, after the daemon's backoff.
    if (absl::IsResourceExhausted(s)) {
      plain_upload_ = std::move(upload);
      return Failed(s);
    }
    return Refused(UploadLost(s), Failed(s));
  }
  spdlog::info("round {}: pushed update ({} examples, loss {:.4f}, {:.2f} s)",
               upload.header.round, summary_.num_examples, summary_.train_loss,
               summary_.seconds);
  if (options_.observer != nullptr) options_.observer->OnUpdateDelivered(false);
  return Delivered(upload.header.round);
}

ClientSession::StepResult ClientSession::Delivered(uint64_t round) {
  last_round_ = round;
  return Result(StepKind::kTrained, round);
}

absl::Status ClientSession::RecordUpdate(const ReceivedTask& task,
                                         const TrainingResult& result) {
  RETURN_IF_ERROR(MakeDirectories(options_.record_updates_dir));
  const std::string stem =
      absl::StrFormat("%s/round-%06d", options_.record_updates_dir, task.round);
  v1::RoundRef ref;
  ref.set_run_id(task.run_id);
  ref.set_round(task.round);
  ref.set_model_version(task.model_version);
  FlatModel delta{task.model.spec, result.delta.Clone()};
  RETURN_IF_ERROR(WriteModelFile(stem + ".delta.fmodel", ref, delta));
  nlohmann::json meta;
  meta["round"] = task.round;
  meta["num_examples"] = result.num_examples;
  meta["train_loss"] = result.train_loss;
  if (task.dp) meta["clip_norm"] = task.dp->clip_norm();
  return WriteFileAtomically(stem + ".json", meta.dump() + "\n");
}

}  // namespace fedlearn
