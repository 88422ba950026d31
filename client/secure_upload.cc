#include "client/secure_upload.h"

#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/secagg/secagg_client.h"
#include "common/secagg/input_encoding.h"
#include "common/util/log.h"

namespace fedlearn {
namespace {

// Sleeps up to `ms`, waking early when `cancel` is set.
void InterruptibleSleep(uint32_t ms, const std::atomic<bool>& cancel) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!cancel.load() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

absl::Status SecureUpload(CoordinatorTransport* transport, const ReceivedTask& task,
                          std::vector<uint32_t> encoded,
                          const SecureUploadIdentity& identity,
                          const std::atomic<bool>& cancel,
                          std::chrono::milliseconds timeout,
                          SecureUploadFaults faults) {
  if (identity.tls.insecure) {
    return absl::FailedPreconditionError(
        "this round uses secure aggregation, which needs the client's TLS "
        "certificate and key to sign its keys; --insecure clients cannot take part");
  }
  absl::StatusOr<TlsMaterial> tls = LoadTlsMaterial(identity.tls);
  if (!tls.ok()) return tls.status();


  SecAggIdentity secagg_identity;
  secagg_identity.client_id = identity.client_id;
  secagg_identity.cert_pem = tls->cert_pem;
  secagg_identity.key_pem = SecretBytes(
      reinterpret_cast<const uint8_t*>(tls->key_pem.data()), tls->key_pem.size());
  secagg_identity.ca_pem = tls->ca_cert_pem;
  absl::StatusOr<std::unique_ptr<SecAggClient>> client = SecAggClient::Create(
      *task.secagg, std::move(secagg_identity), std::move(encoded));
  if (!client.ok()) return client.status();
  absl::StatusOr<v1::SecAggClientMessage> first = (*client)->Start();
  if (!first.ok()) return first.status();

  std::optional<v1::SecAggClientMessage> outgoing = *std::move(first);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int transient_failures = 0;
  int delivered = 0;
  v1::SecAggServerMessage::MessageCase last_handled =
      v1::SecAggServerMessage::MESSAGE_NOT_SET;
  bool done = false;
  while (true) {
    if (cancel.load()) return absl::CancelledError("client stopping");
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "round ", task.round, ": secure aggregation did not finish in time"));
    }
    absl::StatusOr<SecAggExchangeResult> reply = transport->SecAggExchange(
        task.run_id, task.round, outgoing ? &*outgoing : nullptr);
    if (!reply.ok()) {
      if ((absl::IsUnavailable(reply.status()) ||
           absl::IsDeadlineExceeded(reply.status())) &&
          ++transient_failures <= 20) {
        InterruptibleSleep(200, cancel);
        continue;  // the same message is sent again
      }
      return reply.status();
    }
    transient_failures = 0;
    if (outgoing) {
      ++delivered;
      if (faults.exit_after_messages > 0 && delivered == faults.exit_after_messages) {
        spdlog::warn("fault injection: exiting after {} secure-aggregation messages",
                     delivered);
        std::_Exit(17);
      }
    }
    outgoing.reset();
    if (done) return absl::OkStatus();  // the unmasking shares were delivered
    if (reply->aborted) {
      return absl::AbortedError(absl::StrCat(
          "round ", task.round, ": secure aggregation ended: ", reply->reason));
    }
    // The server keeps offering a phase's request until the phase closes;
    // each kind of request is handled once (they come in a fixed order).
    if (!reply->message || reply->message->message_case() == last_handled) {
      InterruptibleSleep(std::max<uint32_t>(reply->retry_after_ms, 20), cancel);
      continue;
    }
    last_handled = reply->message->message_case();
    absl::StatusOr<SecAggClient::Reply> step = (*client)->Handle(*reply->message);
    if (!step.ok()) {
      return absl::AbortedError(absl::StrCat(
          "round ", task.round, ": secure aggregation aborted by this client: ",
          step.status().message()));
    }
    if (step->masked_input) {
      if (absl::Status s = transport->PushMaskedInput(
              task.run_id, task.round, task.model_version, *step->masked_input,
              MaskedValueBytes(static_cast<int>(task.secagg->modulus_bits())));
          !s.ok()) {
        return s;
      }
    }
    outgoing = std::move(step->message);
    if (step->done) {
      done = true;
      if (!outgoing) return absl::OkStatus();
    }
  }
}

}  // namespace fedlearn
