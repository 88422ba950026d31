#include "server/coordinator_service.h"

#include <algorithm>
#include <functional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/util/escape.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "common/wire/masked_value_codec.h"
#include "common/wire/proto_conversion.h"

namespace fedlearn {
namespace {

constexpr char kCommonNameProperty[] = "x509_common_name";

bool IsValidClientId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
           c == '_' || c == '-';
  });
}

// Reads the chunks that follow a header: exactly `length` values of `width`
// bytes each, handed to `decode(bytes, first_value_index)` chunk by chunk.
// Refuses a second header, a payload that overflows the announced length,
// a cancelled stream and a short one; `what` names the payload in errors.
absl::Status ReadPayload(
    grpc::ServerContext* context, grpc::ServerReader<v1::ResultChunk>* reader,
    size_t length, size_t width, std::string_view what,
    const std::function<absl::Status(std::string_view, size_t)>& decode) {
  size_t received = 0;
  v1::ResultChunk chunk;
  while (reader->Read(&chunk)) {
    if (!chunk.has_update_data()) {
      return absl::InvalidArgumentError("a second header arrived mid-stream");
    }
    const std::string& bytes = chunk.update_data();
    if (bytes.size() % width != 0 || bytes.size() / width > length - received) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(what), " payload overflows the announced ",
                       length, " values"));
    }
    RETURN_IF_ERROR(decode(bytes, received));
    received += bytes.size() / width;
  }
  if (context->IsCancelled()) {
    return absl::CancelledError("upload cancelled by the client");
  }
  if (received != length) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " stream ended after ", received,
                     " of ", length, " values"));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

CoordinatorService::CoordinatorService(RoundEngine* engine, Options options)
    : engine_(engine), options_(options) {}

absl::StatusOr<std::string> CoordinatorService::ClientIdentity(
    grpc::ServerContext* context, const std::string& claimed) const {
  if (options_.insecure) {
    if (!IsValidClientId(claimed)) {
      return absl::InvalidArgumentError(
          "insecure mode: claimed_client_id must be 1-64 chars of "
          "[A-Za-z0-9._-]");
    }
    return claimed;
  }
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("peer presented no client certificate");
  }
  std::vector<grpc::string_ref> names =
      auth->FindPropertyValues(kCommonNameProperty);
  if (names.size() != 1) {
    return absl::UnauthenticatedError(
        "client certificate must carry exactly one common name");
  }
  std::string id(names[0].data(), names[0].size());
  if (!IsValidClientId(id)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate common name '", id, "' is not a valid id"));
  }
  return id;
}

v1::RoundRef CoordinatorService::CurrentRef() const {
  v1::RoundRef ref;
  ref.set_run_id(engine_->run_id());
  ref.set_round(engine_->current_round());
  ref.set_model_version(engine_->model_version());
  return ref;
}

grpc::Status CoordinatorService::Register(grpc::ServerContext* context,
                                          const v1::RegisterRequest* request,
                                          v1::RegisterResponse* response) {
  absl::StatusOr<std::string> id =
      ClientIdentity(context, request->claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  if (!request->ref().run_id().empty() &&
      request->ref().run_id() != engine_->run_id()) {
    return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
        "client asked for run '", EscapeUntrusted(request->ref().run_id(), 64),
        "', coordinator runs '", engine_->run_id(), "'")));
  }
  if (request->contract_digest().empty()) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "register with the digest of the run contract (GetContract): this "
        "client did not check the run's model and data schema"));
  }
  if (absl::Status s =
          engine_->Register(*id, request->num_examples(),
                            request->contract_digest(), request->session_id());
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  *response->mutable_ref() = CurrentRef();
  response->set_client_id(*id);
  response->set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetContract(
    grpc::ServerContext* context, const v1::GetContractRequest* request,
    v1::GetContractResponse* response) {
  absl::StatusOr<std::string> id =
      ClientIdentity(context, request->claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  ContractOffer offer = engine_->GetContract();
  *response->mutable_contract() = std::move(offer.contract);
  response->set_contract_digest(offer.digest);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::Leave(grpc::ServerContext* context,
                                       const v1::LeaveRequest* request,
                                       v1::LeaveResponse* response) {
  absl::StatusOr<std::string> id =
      ClientIdentity(context, request->claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  return ToGrpcStatus(engine_->Leave(*id, request->session_id(),
                                     request->permanent(), request->reason()));
}

grpc::Status CoordinatorService::Heartbeat(grpc::ServerContext* context,
                                           const v1::HeartbeatRequest* request,
                                           v1::HeartbeatResponse* response) {
  absl::StatusOr<std::string> id =
      ClientIdentity(context, request->claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  if (absl::Status s = engine_->Heartbeat(*id); !s.ok()) return ToGrpcStatus(s);
  *response->mutable_ref() = CurrentRef();
  const RoundEngine::Phase phase = engine_->phase();
  response->set_run_finished(phase == RoundEngine::Phase::kFinished ||
                             phase == RoundEngine::Phase::kFailed);
  if (phase == RoundEngine::Phase::kFailed) {
    response->set_run_failed(true);
    response->set_reason(std::string(engine_->outcome().message()));
  }
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::FetchTask(
    grpc::ServerContext* context, const v1::FetchTaskRequest* request,
    grpc::ServerWriter<v1::TaskChunk>* writer) {
  absl::StatusOr<std::string> id =
      ClientIdentity(context, request->claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  absl::StatusOr<FetchOutcome> outcome = engine_->FetchTask(*id);
  if (!outcome.ok()) return ToGrpcStatus(outcome.status());

  v1::TaskChunk chunk;
  if (!outcome->task) {
    v1::NoTask* no_task = chunk.mutable_no_task();
    no_task->set_retry_after_ms(outcome->retry_after_ms);
    no_task->set_run_finished(outcome->run_finished);
    no_task->set_run_failed(outcome->run_failed);
    no_task->set_reason(outcome->reason);
    writer->Write(chunk);
    return grpc::Status::OK;
  }
  const Task& task = *outcome->task;
  const FlatModel& model = *task.model;
  v1::TaskHeader* header = chunk.mutable_header();
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
  header->set_contract_digest(task.contract_digest);
  header->set_chunk_values(kChunkValues);
  if (!writer->Write(chunk)) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "client went away");
  }
  const absl::Span<const float> values = model.values.span();
  for (size_t offset = 0; offset < values.size(); offset += kChunkValues) {
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "download cancelled");
    }
    v1::TaskChunk data;
    const size_t n = std::min(kChunkValues, values.size() - offset);
    AppendFloat32LE(values.subspan(offset, n), data.mutable_model_data());
    if (!writer->Write(data)) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "client went away");
    }
  }
  return grpc::Status::OK;
}

absl::StatusOr<UpdateSubmission> CoordinatorService::ReadUpdate(
    grpc::ServerContext* context, const v1::UpdateHeader& header,
    grpc::ServerReader<v1::ResultChunk>* reader) {
  const size_t dimension = engine_->spec().NumElements();
  if (header.num_values() != dimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("update announces ", header.num_values(),
                     " values, the model has ", dimension));
  }
  UpdateSubmission submission;
  submission.run_id = header.ref().run_id();
  submission.round = header.ref().round();
  submission.model_version = header.ref().model_version();
  submission.num_examples = header.num_examples();
  submission.train_loss = header.train_loss();
  submission.delta = FlatVector(dimension);
  absl::Span<float> delta = submission.delta.span();
  absl::Status read = ReadPayload(
      context, reader, dimension, 4, "update",
      [&](std::string_view bytes, size_t offset) {
        return DecodeFloat32LE(bytes, delta.subspan(offset, bytes.size() / 4));
      });
  if (!read.ok()) return read;
  return submission;
}

absl::StatusOr<std::vector<uint32_t>> CoordinatorService::ReadMaskedInput(
    grpc::ServerContext* context, const v1::UpdateHeader& header,
    grpc::ServerReader<v1::ResultChunk>* reader, size_t length) {
  const size_t width = static_cast<size_t>(engine_->MaskedValueBytes());
  if (length == 0) {
    return absl::FailedPreconditionError(
        "no secure aggregation is collecting masked inputs now");
  }
  if (header.num_values() != length) {
    return absl::InvalidArgumentError(
        absl::StrCat("masked input announces ", header.num_values(),
                     " values, expected ", length));
  }
  if (header.masked_value_bytes() != width) {
    return absl::InvalidArgumentError(absl::StrCat(
        "masked values must be ", width, " bytes wide in this round, got ",
        header.masked_value_bytes()));
  }
  std::vector<uint32_t> values(length);
  absl::Status read = ReadPayload(
      context, reader, length, width, "masked",
      [&](std::string_view bytes, size_t offset) {
        return DecodeMaskedValues(
            bytes, static_cast<int>(width),
            absl::MakeSpan(values).subspan(offset, bytes.size() / width));
      });
  if (!read.ok()) return read;
  return values;
}

grpc::Status CoordinatorService::SecAggExchange(
    grpc::ServerContext* context, const v1::SecAggRequest* request,
    v1::SecAggResponse* response) {
  absl::StatusOr<std::string> id =
      ClientIdentity(context, request->claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  absl::StatusOr<SecAggExchangeReply> reply = engine_->SecAggExchange(
      *id, request->ref().run_id(), request->ref().round(),
      request->has_message() ? &request->message() : nullptr);
  if (!reply.ok()) return ToGrpcStatus(reply.status());
  if (reply->message) *response->mutable_message() = *std::move(reply->message);
  response->set_retry_after_ms(reply->retry_after_ms);
  response->set_aborted(reply->aborted);
  response->set_reason(reply->reason);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::PushResult(
    grpc::ServerContext* context, grpc::ServerReader<v1::ResultChunk>* reader,
    v1::PushResultResponse* response) {
  v1::ResultChunk first;
  if (!reader->Read(&first) || !first.has_header()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "result stream must start with an UpdateHeader"));
  }
  const v1::UpdateHeader& header = first.header();
  absl::StatusOr<std::string> id =
      ClientIdentity(context, header.claimed_client_id());
  if (!id.ok()) return ToGrpcStatus(id.status());

  // Bound the number of O(D) buffers alive at once.
  {
    std::unique_lock<std::mutex> lock(upload_mu_);
    upload_cv_.wait(lock, [&] {
      return uploads_in_flight_ < options_.max_concurrent_uploads;
    });
    ++uploads_in_flight_;
  }
  struct SlotRelease {
    CoordinatorService* self;
    ~SlotRelease() {
      std::lock_guard<std::mutex> lock(self->upload_mu_);
      --self->uploads_in_flight_;
      self->upload_cv_.notify_one();
    }
  } release{this};

  if (header.masked()) {
    absl::StatusOr<std::vector<uint32_t>> masked =
        ReadMaskedInput(context, header, reader, engine_->MaskedInputLength());
    absl::Status s = masked.ok() ? engine_->SubmitMaskedInput(
                                       *id, header.ref().run_id(),
                                       header.ref().round(), *std::move(masked))
                                 : masked.status();
    if (!s.ok()) {
      spdlog::warn("masked input from {} refused: {}", *id, s.message());
      return ToGrpcStatus(s);
    }
    response->set_accepted(true);
    response->set_message("masked input accepted");
    return grpc::Status::OK;
  }
  absl::StatusOr<UpdateSubmission> submission =
      ReadUpdate(context, header, reader);
  if (!submission.ok()) {
    spdlog::warn("malformed update from {}: {}", *id,
                 submission.status().message());
    if (absl::IsInvalidArgument(submission.status())) {
      // A protocol violation is this client's answer for the round, so the
      // round need not wait for it until the deadline.
      engine_->RejectUpdate(*id, header.ref().run_id(), header.ref().round(),
                            submission.status());
    }
    return ToGrpcStatus(submission.status());
  }
  if (absl::Status s = engine_->SubmitUpdate(*id, *std::move(submission));
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  response->set_accepted(true);
  response->set_message(
      absl::StrCat("update for round ", header.ref().round(), " accepted"));
  return grpc::Status::OK;
}

}  // namespace fedlearn
