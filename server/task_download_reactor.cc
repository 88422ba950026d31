#include "server/task_download_reactor.h"

#include <algorithm>

#include "common/util/status_macros.h"
#include "common/wire/proto_conversion.h"

namespace fedlearn {

TaskDownloadReactor::TaskDownloadReactor(StreamServices* services,
                                         grpc::CallbackServerContext* context,
                                         const v1::FetchTaskRequest* request)
    : services_(services), context_(context) {
  std::lock_guard<std::mutex> lock(mu_);
  if (services_->metrics != nullptr) {
    services_->metrics->CountReceived("FetchTask", request->ByteSizeLong());
  }
  if (absl::Status s = Start(*request); !s.ok()) {
    FinishLocked(s);
    return;
  }
  if (!waiting_) BeginWrites();
}

void TaskDownloadReactor::BeginWrites() {
  watch_id_ = services_->watchdog->Watch(
      services_->limits.stream_idle_timeout, services_->limits.stream_deadline,
      [this](const absl::Status& why) { Expire(why); });
  WriteChunk();
}

void TaskDownloadReactor::WriteChunk() {
  if (services_->metrics != nullptr) {
    services_->metrics->CountSent("FetchTask", chunk_.ByteSizeLong());
  }
  write_pending_ = true;
  StartWrite(&chunk_);
}

absl::Status TaskDownloadReactor::Start(const v1::FetchTaskRequest& request) {
  ASSIGN_OR_RETURN(stream_ticket_, services_->admission->OpenStream());
  ASSIGN_OR_RETURN(id_,
                   services_->admit(context_, request.claimed_client_id()));
  ASSIGN_OR_RETURN(identity_ticket_,
                   services_->admission->AcquireStream(
                       id_, StreamAdmission::Kind::kDownload));
  const Duration wait =
      std::min(Duration(request.wait_ms()), services_->limits.max_fetch_wait);
  const bool may_wait = services_->waits != nullptr && wait.count() > 0;
  // Read before asking the engine, so an attempt opening in between still
  // wakes this stream.
  const uint64_t epoch = may_wait ? services_->waits->epoch() : 0;
  ASSIGN_OR_RETURN(FetchOutcome outcome, services_->engine->FetchTask(id_));
  if (may_wait && !outcome.task && !outcome.run_finished &&
      !outcome.run_halted) {
    ASSIGN_OR_RETURN(const bool listed, StartWait(wait, epoch));
    if (listed) return absl::OkStatus();
  }
  Answer(std::move(outcome), /*waited=*/false);
  return absl::OkStatus();
}

absl::StatusOr<bool> TaskDownloadReactor::StartWait(Duration wait,
                                                    uint64_t epoch) {
  absl::StatusOr<uint64_t> id = services_->waits->Add(this, wait, epoch);
  if (absl::IsFailedPrecondition(id.status())) return false;  // closed
  RETURN_IF_ERROR(id.status());
  wait_id_ = *id;
  waiting_ = true;
  // A waiting stream is not one of max_open_streams: it takes one again
  // when its task exists.
  stream_ticket_.Release();
  return true;
}

bool TaskDownloadReactor::OnWake(bool final) {
  return Resume(/*must_answer=*/final, /*expired=*/false);
}

void TaskDownloadReactor::OnExpired() {
  Resume(/*must_answer=*/true, /*expired=*/true);
}

bool TaskDownloadReactor::Resume(bool must_answer, bool expired) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_ || !waiting_) return false;
  absl::StatusOr<FetchOutcome> outcome = services_->engine->FetchTask(id_);
  if (!outcome.ok()) {
    waiting_ = false;
    FinishLocked(outcome.status());
    return false;
  }
  if (!outcome->task && !outcome->run_finished && !outcome->run_halted &&
      !must_answer) {
    return true;
  }
  waiting_ = false;
  if (outcome->task) {
    absl::StatusOr<StreamAdmission::Ticket> ticket =
        services_->admission->OpenStream();
    if (!ticket.ok()) {
      FinishLocked(ticket.status());
      return false;
    }
    stream_ticket_ = *std::move(ticket);
  }
  Answer(*std::move(outcome), expired);
  BeginWrites();
  return false;
}

void TaskDownloadReactor::Answer(FetchOutcome outcome, bool waited) {
  if (!outcome.task) {
    v1::NoTask* no_task = chunk_.mutable_no_task();
    // A wait that ran out may be asked again at once.
    no_task->set_retry_after_ms(waited ? 0 : outcome.retry_after_ms);
    no_task->set_waited(waited);
    no_task->set_run_finished(outcome.run_finished);
    no_task->set_run_failed(outcome.run_failed);
    no_task->set_run_halted(outcome.run_halted);
    no_task->set_reason(outcome.reason);
    return;
  }
  task_ = std::move(outcome.task);
  WriteHeader(*task_);
}

void TaskDownloadReactor::WriteHeader(const Task& task) {
  const FlatModel& model = *task.model;
  v1::TaskHeader* header = chunk_.mutable_header();
  header->mutable_ref()->set_run_id(task.run_id);
  header->mutable_ref()->set_round(task.round);
  header->mutable_ref()->set_model_version(task.model_version);
  *header->mutable_model_spec() = ToProto(model.spec);
  *header->mutable_training() = ToProto(task.training);
  header->set_num_values(model.values.size());
  header->set_deadline_unix_ms(task.deadline_unix_ms);
  if (task.secagg != nullptr) {
    *header->mutable_secagg() = *task.secagg;
    *header->mutable_encoding() = task.encoding;
  }
  if (task.dp != nullptr) *header->mutable_dp() = *task.dp;
  if (task.evaluation.has_value())
    *header->mutable_evaluation() = *task.evaluation;
  header->set_contract_digest(task.contract_digest);
  header->set_chunk_values(kChunkValues);
}

void TaskDownloadReactor::OnWriteDone(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  write_pending_ = false;
  if (finished_) return;
  if (!ok) {
    FinishLocked(absl::UnavailableError("client went away"));
    return;
  }
  services_->watchdog->Touch(watch_id_);
  const absl::Span<const float> values =
      task_ ? task_->model->values.span() : absl::Span<const float>();
  if (offset_ >= values.size()) {
    FinishLocked(absl::OkStatus());
    return;
  }
  const size_t n = std::min(kChunkValues, values.size() - offset_);
  chunk_.Clear();
  AppendFloat32LE(values.subspan(offset_, n), chunk_.mutable_model_data());
  offset_ += n;
  WriteChunk();
}

void TaskDownloadReactor::OnCancel() {
  std::lock_guard<std::mutex> lock(mu_);
  // A pending write fails by itself (OnWriteDone(false)); a wait does not.
  if (finished_ || !waiting_) return;
  waiting_ = false;
  FinishLocked(absl::CancelledError("task fetch cancelled while waiting"));
}

void TaskDownloadReactor::Expire(const absl::Status& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_ || !write_pending_) return;
  FinishLocked(why);
  // The pending write is stuck behind the client's flow-control window, and
  // the status would queue behind it: cancel the call so both fail now and
  // the stream gives its memory back (the client sees CANCELLED).
  context_->TryCancel();
}

void TaskDownloadReactor::FinishLocked(const absl::Status& status) {
  finished_ = true;
  LogStreamEnd("download", id_, status);
  Finish(ToGrpcStatus(status));
}

void TaskDownloadReactor::OnDone() {
  if (wait_id_ != 0) services_->waits->Remove(wait_id_);
  if (watch_id_ != 0) services_->watchdog->Unwatch(watch_id_);
  delete this;
}

}  // namespace fedlearn
