#include "server/secagg_exchange_reactor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// Nothing the client has not handled: the call may wait.
bool NothingNew(const SecAggExchangeReply& reply) {
  return !reply.aborted && !reply.message.has_value();
}

}  // namespace

SecAggExchangeReactor::SecAggExchangeReactor(
    StreamServices* services, grpc::CallbackServerContext* context,
    const v1::SecAggRequest* request, v1::SecAggResponse* response)
    : services_(services),
      context_(context),
      request_(request),
      response_(response) {
  std::lock_guard<std::mutex> lock(mu_);
  if (services_->metrics != nullptr) {
    services_->metrics->CountReceived("SecAggExchange",
                                      request_->ByteSizeLong());
  }
  if (absl::Status s = Start(); !s.ok()) FinishLocked(s);
}

absl::Status SecAggExchangeReactor::Start() {
  ASSIGN_OR_RETURN(id_,
                   services_->admit(context_, request_->claimed_client_id()));
  FetchWaitList* waits = services_->secagg_waits;
  const Duration wait =
      std::min(Duration(std::chrono::milliseconds(request_->wait_ms())),
               services_->limits.max_fetch_wait);
  const bool may_wait =
      waits != nullptr && wait.count() > 0 && !request_->has_message();
  // Read before asking the engine, so a phase entered in between still
  // wakes this call.
  const uint64_t epoch = may_wait ? waits->epoch() : 0;
  ASSIGN_OR_RETURN(
      SecAggExchangeReply reply,
      services_->engine->SecAggExchange(
          id_, request_->ref().run_id(), request_->ref().round(),
          request_->has_message() ? &request_->message() : nullptr));
  if (may_wait && NothingNew(reply)) {
    absl::StatusOr<uint64_t> listed = waits->Add(this, wait, epoch);
    if (listed.ok()) {
      wait_id_ = *listed;
      waiting_ = true;
      return absl::OkStatus();
    }
    if (absl::IsResourceExhausted(listed.status())) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "coordinator busy: ", services_->limits.max_waiting_secagg_exchanges,
          " secure-aggregation exchanges are waiting already "
          "(limits.max_waiting_secagg_exchanges); ask again without wait_ms "
          "or later"));
    }
    // Closed (the run ended, or shutdown): answer now.
  }
  Answer(std::move(reply), /*waited=*/false);
  return absl::OkStatus();
}

bool SecAggExchangeReactor::OnWake(bool final) {
  return Resume(/*must_answer=*/final, /*expired=*/false);
}

void SecAggExchangeReactor::OnExpired() {
  Resume(/*must_answer=*/true, /*expired=*/true);
}

bool SecAggExchangeReactor::Resume(bool must_answer, bool expired) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_ || !waiting_) return false;
  absl::StatusOr<SecAggExchangeReply> reply = services_->engine->SecAggExchange(
      id_, request_->ref().run_id(), request_->ref().round(), nullptr);
  if (reply.ok() && NothingNew(*reply) && !must_answer) return true;
  waiting_ = false;
  if (!reply.ok()) {
    FinishLocked(reply.status());
    return false;
  }
  // A closing list's final answer did not wait its time: the client asks
  // again after the usual delay (and a closed list answers at once).
  const bool waited = expired || !NothingNew(*reply);
  Answer(*std::move(reply), waited);
  return false;
}

void SecAggExchangeReactor::Answer(SecAggExchangeReply reply, bool waited) {
  if (reply.message) *response_->mutable_message() = *std::move(reply.message);
  // A wait that ran out may be asked again at once.
  response_->set_retry_after_ms(waited ? 0 : reply.retry_after_ms);
  response_->set_aborted(reply.aborted);
  response_->set_reason(reply.reason);
  response_->set_waited(waited);
  if (services_->metrics != nullptr) {
    services_->metrics->CountSent("SecAggExchange", response_->ByteSizeLong());
  }
  FinishLocked(absl::OkStatus());
}

void SecAggExchangeReactor::OnCancel() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_ || !waiting_) return;
  waiting_ = false;
  FinishLocked(absl::CancelledError("secure-aggregation exchange cancelled"));
}

void SecAggExchangeReactor::FinishLocked(const absl::Status& status) {
  finished_ = true;
  Finish(ToGrpcStatus(status));
}

void SecAggExchangeReactor::OnDone() {
  if (wait_id_ != 0) services_->secagg_waits->Remove(wait_id_);
  delete this;
}

}  // namespace fedlearn
