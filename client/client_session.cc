#include "client/client_session.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/secure_upload.h"
#include "client/update_encoding.h"
#include "common/util/atomic_file.h"
#include "common/util/clock.h"
#include "common/util/escape.h"
#include "common/util/log.h"
#include "common/util/status_class.h"
#include "common/wire/model_file.h"
#include "nlohmann/json.hpp"

namespace fedlearn {
namespace {

ClientSession::StepResult Failed(absl::Status status) {
  ClientSession::StepResult r;
  r.kind = ClientSession::StepKind::kFailed;
  r.status = std::move(status);
  return r;
}

}  // namespace

ClientSession::ClientSession(CoordinatorTransport* transport,
                             RunPreparer* preparer, TrainingSlots* slots,
                             Options options)
    : transport_(transport),
      preparer_(preparer),
      slots_(slots),
      options_(std::move(options)) {}

ClientSession::ClientSession(CoordinatorTransport* transport,
                             LocalTrainer* trainer, TrainingSlots* slots,
                             Options options)
    : transport_(transport),
      owned_preparer_(std::make_unique<FixedTrainerPreparer>(trainer)),
      preparer_(owned_preparer_.get()),
      slots_(slots),
      options_(std::move(options)) {}

ClientSession::StepResult ClientSession::FailPermanently(absl::Status status) {
  status = MarkPermanent(std::move(status));
  spdlog::error("cannot take part in this run: {}", status.message());
  if (absl::Status s = transport_->Leave(/*permanent=*/true,
                                         std::string(status.message()));
      !s.ok()) {
    spdlog::warn("could not tell the coordinator: {}", s.message());
  }
  registered_ = false;
  return Failed(std::move(status));
}

ClientSession::StepResult ClientSession::Prepare() {
  absl::StatusOr<ReceivedContract> offer = transport_->GetContract();
  if (!offer.ok()) return Failed(offer.status());
  absl::StatusOr<LocalTrainer*> trainer = preparer_->Prepare(offer->contract);
  if (!trainer.ok()) {
    return FailPermanently(absl::Status(
        trainer.status().code(),
        absl::StrCat("this site does not meet the contract of run '",
                     EscapeUntrusted(offer->contract.run_id(), 64),
                     "': ", trainer.status().message())));
  }
  trainer_ = *trainer;
  contract_digest_ = offer->digest;
  registered_ = false;
  spdlog::info("prepared for run '{}' (contract {}): {} model, {} local examples",
               EscapeUntrusted(offer->contract.run_id(), 64),
               contract_digest_.substr(0, 12),
               EscapeUntrusted(offer->contract.model().architecture(), 32),
               trainer_->NumExamples());
  StepResult r;
  r.kind = StepKind::kPrepared;
  return r;
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

ClientSession::StepResult ClientSession::Step(const std::atomic<bool>& cancel) {
  if (cancel.load()) return Failed(absl::CancelledError("client stopping"));
  if (trainer_ == nullptr) return Prepare();
  if (!registered_) {
    absl::StatusOr<RegisterReply> reply =
        transport_->Register(trainer_->NumExamples(), contract_digest_);
    if (!reply.ok()) {
      // The run's contract may have changed (a restarted coordinator with a
      // new configuration): fetch it again before the next attempt.
      if (absl::IsFailedPrecondition(reply.status())) trainer_ = nullptr;
      return Failed(reply.status());
    }
    registered_ = true;
    run_id_ = reply->run_id;
    client_id_ = reply->client_id;
    spdlog::info("registered with run '{}' as '{}' ({} local examples)",
                 run_id_, client_id_, trainer_->NumExamples());
    StepResult r;
    r.kind = StepKind::kRegistered;
    return r;
  }
  absl::StatusOr<FetchReply> reply =
      transport_->FetchTask(run_id_, last_round_);
  if (!reply.ok()) {
    // The coordinator forgot us (restarted): register again next step.
    if (absl::IsNotFound(reply.status())) registered_ = false;
    return Failed(reply.status());
  }
  if (!reply->task) {
    StepResult r;
    r.kind = reply->run_finished ? StepKind::kRunFinished : StepKind::kIdle;
    r.retry_after_ms = reply->retry_after_ms;
    if (reply->run_failed) {
      r.status = absl::AbortedError(absl::StrCat(
          "the coordinator reports the run failed: ",
          EscapeUntrusted(reply->reason, 500)));
    }
    return r;
  }
  if (!reply->task->contract_digest.empty() &&
      reply->task->contract_digest != contract_digest_) {
    trainer_ = nullptr;
    registered_ = false;
    return Failed(absl::FailedPreconditionError(
        "the run's contract changed since this client prepared; preparing "
        "again"));
  }
  return TrainAndPush(*std::move(reply->task), cancel);
}

ClientSession::StepResult ClientSession::TrainAndPush(
    ReceivedTask task, const std::atomic<bool>& cancel) {
  if (!task.model.spec.CompatibleWith(trainer_->Spec())) {
    return Failed(absl::FailedPreconditionError(
        absl::StrCat("round ", task.round,
                     ": the coordinator's model does not match the "
                     "local model (",
                     trainer_->Spec().DescribeMismatch(task.model.spec),
                     "); check that both sides use the same architecture")));
  }
  if (task.deadline_unix_ms > 0 &&
      WallClockUnixMillis() > task.deadline_unix_ms) {
    return Failed(absl::DeadlineExceededError(absl::StrCat(
        "round ", task.round, " deadline passed before training")));
  }
  if (absl::Status s = CheckPrivacyRequirement(task, options_.privacy);
      !s.ok()) {
    // The run's privacy settings are fixed: every later task would be
    // refused too.
    return FailPermanently(s);
  }
  run_id_ = task.run_id;
  if (slots_ != nullptr && !slots_->Acquire(cancel)) {
    return Failed(absl::CancelledError("client stopping"));
  }
  training_ = true;
  absl::StatusOr<TrainingResult> result =
      trainer_->Train(task.model.values, task.training, cancel);
  training_ = false;
  if (slots_ != nullptr) slots_->Release();
  if (!result.ok()) return Failed(result.status());
  if (cancel.load()) return Failed(absl::CancelledError("client stopping"));

  absl::StatusOr<ClipOutcome> clip = ClipUpdateForRound(task, &*result);
  if (!clip.ok()) return Failed(clip.status());
  if (task.dp) {
    spdlog::info("round {}: update norm {:.4f}, clip norm {:.4f}{}", task.round,
                 clip->norm_before, task.dp->clip_norm(),
                 clip->clipped ? " (clipped)" : "");
  }
  if (!options_.record_updates_dir.empty()) {
    if (absl::Status s = RecordUpdate(task, *result); !s.ok()) return Failed(s);
  }
  if (task.secagg) {
    // Distributed DP: never help unmask a sum with less noise than planned,
    // whatever the secure-aggregation config says.
    if (task.dp && task.dp->mode() == v1::DpTaskConfig::DISTRIBUTED &&
        task.secagg->min_survivors() < task.dp->min_clients()) {
      task.secagg->set_min_survivors(task.dp->min_clients());
    }
    absl::StatusOr<std::vector<uint32_t>> encoded =
        EncodeForSecureAggregation(task, *result, *clip);
    if (!encoded.ok()) return Failed(encoded.status());
    SecureUploadIdentity identity{client_id_, options_.identity};
    if (absl::Status s = SecureUpload(
            transport_, task, *std::move(encoded), identity, cancel,
            options_.secagg_timeout,
            SecureUploadFaults{options_.exit_after_secagg_messages});
        !s.ok()) {
      return Failed(s);
    }
    last_round_ = task.round;
    spdlog::info("round {}: securely aggregated update ({} examples, {:.2f} s training)",
                 task.round, result->num_examples, result->seconds);
    StepResult r;
    r.kind = StepKind::kTrained;
    r.round = task.round;
    return r;
  }
  OutgoingUpdate update;
  update.run_id = task.run_id;
  update.round = task.round;
  update.model_version = task.model_version;
  update.num_examples = result->num_examples;
  update.train_loss = result->train_loss;
  update.train_seconds = result->seconds;
  update.delta = &result->delta;
  if (absl::Status s = transport_->PushResult(update); !s.ok())
    return Failed(s);
  last_round_ = task.round;
  spdlog::info("round {}: pushed update ({} examples, loss {:.4f}, {:.2f} s)",
               task.round, result->num_examples, result->train_loss,
               result->seconds);
  StepResult r;
  r.kind = StepKind::kTrained;
  r.round = task.round;
  return r;
}

absl::Status ClientSession::RecordUpdate(const ReceivedTask& task,
                                         const TrainingResult& result) {
  if (absl::Status s = MakeDirectories(options_.record_updates_dir); !s.ok()) {
    return s;
  }
  const std::string stem =
      absl::StrFormat("%s/round-%06d", options_.record_updates_dir, task.round);
  v1::RoundRef ref;
  ref.set_run_id(task.run_id);
  ref.set_round(task.round);
  ref.set_model_version(task.model_version);
  FlatModel delta{task.model.spec, result.delta.Clone()};
  if (absl::Status s = WriteModelFile(stem + ".delta.fmodel", ref, delta);
      !s.ok()) {
    return s;
  }
  nlohmann::json meta;
  meta["round"] = task.round;
  meta["num_examples"] = result.num_examples;
  meta["train_loss"] = result.train_loss;
  if (task.dp) meta["clip_norm"] = task.dp->clip_norm();
  return WriteFileAtomically(stem + ".json", meta.dump() + "\n");
}

}  // namespace fedlearn
