#include "server/result_upload_reactor.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "server/result_chunk_view.h"

namespace fedlearn {

ResultUploadReactor::ResultUploadReactor(StreamServices* services,
                                         grpc::CallbackServerContext* context,
                                         grpc::ByteBuffer* response)
    : services_(services), context_(context), response_buffer_(response) {
  absl::StatusOr<StreamAdmission::Ticket> stream =
      services_->admission->OpenStream();
  std::lock_guard<std::mutex> lock(mu_);
  if (!stream.ok()) {
    FinishLocked(stream.status());
    return;
  }
  stream_ticket_ = *std::move(stream);
  watch_id_ = services_->watchdog->Watch(
      services_->limits.stream_idle_timeout, services_->limits.stream_deadline,
      [this](const absl::Status& why) { Expire(why); });
  read_pending_ = true;
  StartRead(&message_);
}

void ResultUploadReactor::OnReadDone(bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    read_pending_ = false;
    if (finished_) return;
  }
  if (ok) services_->watchdog->Touch(watch_id_);
  if (ok && services_->metrics != nullptr) {
    services_->metrics->CountReceived("PushResult", message_.Length());
  }
  const absl::Status status = ok ? OnMessage() : OnEnd();
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  if (ok && status.ok()) {
    read_pending_ = true;
    StartRead(&message_);
    return;
  }
  FinishLocked(status);
}

absl::Status ResultUploadReactor::Parse() {
  chunk_.Clear();
  grpc::Status parsed = grpc::SerializationTraits<v1::ResultChunk>::Deserialize(
      &message_, &chunk_);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError("a result chunk does not parse");
  }
  return absl::OkStatus();
}

absl::Status ResultUploadReactor::OnMessage() {
  if (!have_header_) {
    RETURN_IF_ERROR(Parse());
    if (!chunk_.has_header()) {
      return absl::InvalidArgumentError(
          "result stream must start with an UpdateHeader");
    }
    have_header_ = true;
    header_ = std::move(*chunk_.mutable_header());
    return OnHeader(header_);
  }
  slices_.clear();
  std::vector<std::string_view> bytes;
  if (message_.Dump(&slices_).ok()) {
    bytes.reserve(slices_.size());
    for (const grpc::Slice& slice : slices_) {
      bytes.emplace_back(reinterpret_cast<const char*>(slice.begin()),
                         slice.size());
    }
  }
  std::optional<std::vector<std::string_view>> payload =
      UpdateDataPieces(bytes);
  absl::Status fed;
  if (payload.has_value()) {
    fed = assembler_->FeedPayload(*payload);
  } else {
    fed = Parse();
    if (fed.ok()) fed = assembler_->Feed(chunk_);
    chunk_.Clear();
  }
  slices_.clear();
  message_.Clear();
  RejectIfMalformed(fed);
  return fed;
}

absl::Status ResultUploadReactor::OnHeader(const v1::UpdateHeader& header) {
  RoundEngine* engine = services_->engine;
  ASSIGN_OR_RETURN(id_, services_->admit(context_, header.claimed_client_id()));
  ASSIGN_OR_RETURN(identity_ticket_, services_->admission->AcquireStream(
                                         id_, StreamAdmission::Kind::kUpload));
  const size_t masked_length =
      header.masked() ? engine->MaskedInputLength() : 0;
  const absl::Status shape =
      UploadAssembler::CheckHeader(header, engine->update_length(),
                                   masked_length, engine->MaskedValueBytes());
  RejectIfMalformed(shape);
  RETURN_IF_ERROR(shape);
  // Authorization before any buffer: an unselected or unregistered client
  // never holds one of the few upload slots.
  RETURN_IF_ERROR(
      engine->CheckMayUpload(id_, header.ref().run_id(), header.ref().round()));
  ASSIGN_OR_RETURN(buffer_ticket_, services_->admission->AcquireUploadBuffer());
  const int max_chunks = services_->limits.max_chunks_per_stream;
  assembler_.emplace(
      header.masked()
          ? UploadAssembler::ForMaskedInput(
                header, masked_length, engine->MaskedValueBytes(), max_chunks)
          : UploadAssembler::ForUpdate(header, engine->update_length(),
                                       max_chunks, services_->upload_buffers));
  return absl::OkStatus();
}

absl::Status ResultUploadReactor::OnEnd() {
  if (context_->IsCancelled()) {
    return absl::CancelledError("upload cancelled by the client");
  }
  if (!have_header_) {
    return absl::InvalidArgumentError(
        "result stream must start with an UpdateHeader");
  }
  const absl::Status complete = assembler_->CheckComplete();
  RejectIfMalformed(complete);
  RETURN_IF_ERROR(complete);
  RoundEngine* engine = services_->engine;
  const uint64_t round = header_.ref().round();
  if (assembler_->masked()) {
    // With per-site evaluation the site's report also comes in the clear.
    RETURN_IF_ERROR(engine->SubmitMaskedInput(
        id_, header_.ref().run_id(), round, assembler_->TakeMaskedInput(),
        std::vector<uint64_t>(header_.eval_report().begin(),
                              header_.eval_report().end()),
        header_.secagg_session_id()));
    response_.set_message("masked input accepted");
  } else {
    RETURN_IF_ERROR(engine->SubmitUpdate(id_, assembler_->TakeUpdate()));
    response_.set_message(
        absl::StrCat("update for round ", round, " accepted"));
  }
  assembler_.reset();
  buffer_ticket_.Release();
  response_.set_accepted(true);
  return absl::OkStatus();
}

void ResultUploadReactor::RejectIfMalformed(const absl::Status& status) {
  if (!absl::IsInvalidArgument(status) || header_.masked()) return;
  // A protocol violation is this client's answer for the round, so the
  // round need not wait for it until the deadline.
  services_->engine->RejectUpdate(id_, header_.ref().run_id(),
                                  header_.ref().round(), status);
}

void ResultUploadReactor::Expire(const absl::Status& why) {
  std::lock_guard<std::mutex> lock(mu_);
  // A reaction that is running (no read pending) finishes by itself.
  if (finished_ || !read_pending_) return;
  FinishLocked(why);
}

void ResultUploadReactor::FinishLocked(const absl::Status& status) {
  finished_ = true;
  LogStreamEnd("upload", id_, status);
  if (services_->metrics != nullptr) {
    services_->metrics->CountRejectedUpload(status);  // if not OK
    services_->metrics->CountSent("PushResult", response_.ByteSizeLong());
  }
  bool own_buffer = false;
  (void)grpc::SerializationTraits<v1::PushResultResponse>::Serialize(
      response_, response_buffer_, &own_buffer);
  Finish(ToGrpcStatus(status));
}

void ResultUploadReactor::OnDone() {
  if (watch_id_ != 0) services_->watchdog->Unwatch(watch_id_);
  delete this;
}

}  // namespace fedlearn
