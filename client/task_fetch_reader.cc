#include "client/task_fetch_reader.h"

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "common/wire/proto_conversion.h"

namespace fedlearn {

absl::StatusOr<ReceivedTask> TaskFromHeader(const v1::TaskHeader& header) {
  ASSIGN_OR_RETURN(ModelSpec spec, FromProto(header.model_spec()));
  ASSIGN_OR_RETURN(TrainingConfig training, FromProto(header.training()));
  if (header.num_values() != static_cast<uint64_t>(spec.NumElements())) {
    return absl::DataLossError(
        absl::StrCat("task announces ", header.num_values(),
                     " values but its spec has ", spec.NumElements()));
  }
  ReceivedTask task;
  task.run_id = header.ref().run_id();
  task.round = header.ref().round();
  task.model_version = header.ref().model_version();
  task.training = training;
  task.deadline_unix_ms = header.deadline_unix_ms();
  if (header.has_secagg()) {
    task.secagg = header.secagg();
    task.encoding = header.encoding();
  }
  if (header.has_dp()) task.dp = header.dp();
  if (header.has_evaluation()) task.evaluation = header.evaluation();
  task.contract_digest = header.contract_digest();
  task.model.spec = std::move(spec);
  task.model.values = FlatVector(header.num_values());
  return task;
}

void FillNoTask(const v1::NoTask& no_task, FetchReply* reply) {
  reply->run_finished = no_task.run_finished();
  reply->run_failed = no_task.run_failed();
  reply->run_halted = no_task.run_halted();
  reply->retry_after_ms = no_task.retry_after_ms();
  reply->waited = no_task.waited();
  reply->reason = no_task.reason();
}

TaskFetchReader::TaskFetchReader(std::shared_ptr<grpc::ClientContext> context,
                                 v1::FetchTaskRequest request, Done done)
    : context_(std::move(context)),
      request_(std::move(request)),
      done_(std::move(done)) {}

void TaskFetchReader::Start(v1::Coordinator::Stub* stub,
                            std::shared_ptr<grpc::ClientContext> context,
                            v1::FetchTaskRequest request, Done done) {
  auto* reader = new TaskFetchReader(std::move(context), std::move(request),
                                     std::move(done));
  stub->async()->FetchTask(reader->context_.get(), &reader->request_, reader);
  reader->StartRead(&reader->chunk_);
  reader->StartCall();
}

void TaskFetchReader::Abandon(absl::Status why) {
  if (outcome_.protocol.ok()) outcome_.protocol = std::move(why);
  context_->TryCancel();
}

void TaskFetchReader::OnReadDone(bool ok) {
  if (!ok) return;  // the stream ended: OnDone follows
  outcome_.received_bytes += chunk_.ByteSizeLong();
  if (!outcome_.protocol.ok()) {
    StartRead(&chunk_);  // drain what is already on its way
    return;
  }
  if (first_) {
    first_ = false;
    if (chunk_.has_no_task()) {
      FillNoTask(chunk_.no_task(), &outcome_.reply);
    } else if (chunk_.has_header()) {
      absl::StatusOr<ReceivedTask> task = TaskFromHeader(chunk_.header());
      if (!task.ok()) {
        Abandon(task.status());
      } else {
        expected_values_ = chunk_.header().num_values();
        outcome_.reply.task = *std::move(task);
      }
    } else {
      Abandon(absl::DataLossError(
          "task stream starts with neither header nor NoTask"));
    }
  } else if (!outcome_.reply.task.has_value()) {
    Abandon(absl::DataLossError("data after NoTask"));
  } else if (!chunk_.has_model_data() || chunk_.model_data().size() % 4 != 0 ||
             chunk_.model_data().size() / 4 >
                 expected_values_ - received_values_) {
    Abandon(absl::DataLossError("malformed model stream"));
  } else {
    const size_t n = chunk_.model_data().size() / 4;
    absl::Status decoded = DecodeFloat32LE(
        chunk_.model_data(),
        outcome_.reply.task->model.values.span().subspan(received_values_, n));
    if (!decoded.ok()) Abandon(decoded);
    received_values_ += n;
  }
  StartRead(&chunk_);
}

void TaskFetchReader::OnDone(const grpc::Status& status) {
  outcome_.status = status;
  if (outcome_.protocol.ok() && status.ok() &&
      outcome_.reply.task.has_value() && received_values_ != expected_values_) {
    outcome_.protocol = absl::DataLossError(
        absl::StrCat("model stream ended after ", received_values_, " of ",
                     expected_values_, " values"));
  }
  if (outcome_.protocol.ok() && status.ok() && first_) {
    outcome_.protocol = absl::DataLossError("task stream ended empty");
  }
  Done done = std::move(done_);
  Outcome outcome = std::move(outcome_);
  delete this;
  done(std::move(outcome));
}

}  // namespace fedlearn
