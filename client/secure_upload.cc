#include "client/secure_upload.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/secagg/input_encoding.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// A failed RPC worth sending again: the coordinator may be back soon, or
// was busy (RESOURCE_EXHAUSTED: its upload buffers or this client's rate
// limit; it refuses rather than queues, and the retry is the queue).
bool IsTransient(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
         absl::IsResourceExhausted(status);
}

// The shortest wait between two polls, whatever the coordinator asks.
constexpr uint32_t kMinPollMs = 20;

}  // namespace

absl::StatusOr<SecAggIdentity> LoadSecAggIdentity(const std::string& client_id,
                                                  const TlsConfig& tls) {
  if (tls.insecure) {
    return absl::FailedPreconditionError(
        "this round uses secure aggregation, which needs the client's TLS "
        "certificate and key to sign its keys; --insecure clients cannot "
        "take part");
  }
  ASSIGN_OR_RETURN(TlsMaterial material, LoadTlsMaterial(tls));
  SecAggIdentity identity;
  identity.client_id = client_id;
  identity.cert_pem = material.cert_pem;
  identity.key_pem =
      SecretBytes(reinterpret_cast<const uint8_t*>(material.key_pem.data()),
                  material.key_pem.size());
  identity.ca_pem = material.ca_cert_pem;
  return identity;
}

absl::StatusOr<std::unique_ptr<SecureUpload>> SecureUpload::Start(
    const ReceivedTask& task, std::vector<uint32_t> encoded,
    SecAggIdentity identity, TimePoint deadline,
    std::vector<uint64_t> clear_eval_report) {
  if (!task.secagg) {
    return absl::InvalidArgumentError(
        absl::StrCat("round ", task.round, " does not use secure aggregation"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SecAggClient> client,
                   SecAggClient::Create(*task.secagg, std::move(identity),
                                        std::move(encoded)));
  ASSIGN_OR_RETURN(v1::SecAggClientMessage first, client->Start());
  auto upload = std::unique_ptr<SecureUpload>(
      new SecureUpload(task, std::move(client), std::move(first), deadline));
  upload->clear_eval_report_ = std::move(clear_eval_report);
  return upload;
}

SecureUpload::SecureUpload(const ReceivedTask& task,
                           std::unique_ptr<SecAggClient> client,
                           v1::SecAggClientMessage first, TimePoint deadline)
    : run_id_(task.run_id),
      round_(task.round),
      session_id_(task.secagg->session_id()),
      model_version_(task.model_version),
      masked_value_bytes_(
          MaskedValueBytes(static_cast<int>(task.secagg->modulus_bits()))),
      deadline_(deadline),
      client_(std::move(client)),
      outgoing_(std::move(first)) {}

absl::Status SecureUpload::Fail(absl::Status status) {
  if (!status.ok() && !IsTransient(status)) ended_ = true;
  return status;
}

absl::Status SecureUpload::CheckLive(TimePoint now) {
  if (ended_) {
    return absl::FailedPreconditionError(
        absl::StrCat("round ", round_, ": this secure upload already ended"));
  }
  if (now > deadline_) {
    ended_ = true;
    return absl::DeadlineExceededError(absl::StrCat(
        "round ", round_,
        ": secure aggregation did not finish in time (secagg_timeout)"));
  }
  return absl::OkStatus();
}

std::chrono::milliseconds SecureUpload::PollWait(TimePoint now) const {
  if (now >= deadline_) return std::chrono::milliseconds(0);
  return std::min(
      kLongPollWait,
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now));
}

absl::StatusOr<SecureUpload::Progress> SecureUpload::Advance(
    CoordinatorTransport* transport, TimePoint now) {
  RETURN_IF_ERROR(CheckLive(now));
  RETURN_IF_ERROR(PushPendingMaskedInput(transport));
  const bool sent = outgoing_.has_value();
  return Continue(
      transport,
      transport->SecAggExchange(run_id_, round_, sent ? &*outgoing_ : nullptr),
      sent);
}

absl::StatusOr<SecureUpload::Progress> SecureUpload::CompletePoll(
    CoordinatorTransport* transport, TimePoint now,
    absl::StatusOr<SecAggExchangeReply> reply) {
  RETURN_IF_ERROR(CheckLive(now));
  return Continue(transport, std::move(reply), /*sent=*/false);
}

absl::StatusOr<SecureUpload::Progress> SecureUpload::Continue(
    CoordinatorTransport* transport, absl::StatusOr<SecAggExchangeReply> reply,
    bool sent) {
  // Each pass handles a new kind of server message (or returns), so this
  // ends after at most one pass per protocol phase.
  while (true) {
    if (!reply.ok()) return Fail(reply.status());  // outgoing_ is kept
    outgoing_.reset();
    if (shares_sent_) {  // the unmasking shares were delivered
      ended_ = true;
      return Progress{true, 0};
    }
    bool wait = false;
    ASSIGN_OR_RETURN(Progress progress,
                     HandleReply(transport, *std::move(reply), sent, &wait));
    if (wait || progress.done) return progress;
    // Only the masked input went out (this phase has no message): the next
    // phase cannot open before the coordinator's next tick, so rather than
    // poll now, wait for it (a long poll, if the caller has one).
    if (!outgoing_) return Progress{false, 0, true};
    sent = true;
    reply = transport->SecAggExchange(run_id_, round_, &*outgoing_);
  }
}

absl::StatusOr<SecureUpload::Progress> SecureUpload::HandleReply(
    CoordinatorTransport* transport, SecAggExchangeReply reply, bool sent,
    bool* wait) {
  if (reply.aborted) {
    ended_ = true;
    return absl::AbortedError(absl::StrCat(
        "round ", round_,
        ": secure aggregation ended: ", EscapeUntrusted(reply.reason, 500)));
  }
  if (!reply.message || reply.message->message_case() == last_handled_) {
    *wait = true;
    // After a held poll, or a delivered message (the coordinator answers
    // those at once: the next phase is worth a long poll now), ask again
    // at once; after an unheld poll, after the coordinator's delay.
    if (reply.waited || sent) return Progress{false, 0, true};
    return Progress{false, std::max(reply.retry_after_ms, kMinPollMs)};
  }
  last_handled_ = reply.message->message_case();
  absl::StatusOr<SecAggClient::Reply> step = client_->Handle(*reply.message);
  if (!step.ok()) {
    ended_ = true;
    if (client_->abort_message()) {
      // Best effort: tells the coordinator this client is out and whom it
      // blames (Abort.blamed); a failure to deliver it changes nothing.
      (void)transport->SecAggExchange(run_id_, round_,
                                      &*client_->abort_message());
    }
    return absl::AbortedError(absl::StrCat(
        "round ", round_, ": secure aggregation aborted by this client: ",
        step.status().message()));
  }
  // Queued before the upload so that a retried upload is followed by it.
  outgoing_ = std::move(step->message);
  if (step->masked_input) {
    masked_input_ = std::move(step->masked_input);
    RETURN_IF_ERROR(PushPendingMaskedInput(transport));
  }
  if (step->done) {
    shares_sent_ = true;
    if (!outgoing_) {
      ended_ = true;
      return Progress{true, 0};
    }
  }
  return Progress{};  // send outgoing_ now
}

absl::Status SecureUpload::PushPendingMaskedInput(
    CoordinatorTransport* transport) {
  if (!masked_input_) return absl::OkStatus();
  RETURN_IF_ERROR(Fail(transport->PushMaskedInput(
      run_id_, round_, model_version_, *masked_input_, masked_value_bytes_,
      clear_eval_report_, session_id_)));
  masked_input_.reset();
  return absl::OkStatus();
}

}  // namespace fedlearn
