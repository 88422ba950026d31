// Mallory's secure-aggregation upload over raw gRPC: what
// client/secure_upload.cc does, with a hook on every message she sends.
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/secagg/secagg_client.h"
#include "common/secagg/encoding_proto.h"
#include "common/secagg/input_encoding.h"
#include "common/wire/masked_value_codec.h"
#include "tests/server/hostile_harness.h"

namespace fedlearn::hostile {
namespace {

// Mallory's valid masked-input plaintext: kHonestMean everywhere.
absl::StatusOr<std::vector<uint32_t>> EncodeMalloryInput(
    const v1::TaskHeader& task) {
  absl::StatusOr<InputEncoder> encoder =
      InputEncoder::Create(EncodingParametersFromProto(task.encoding()));
  if (!encoder.ok()) return encoder.status();
  std::vector<float> delta(task.num_values(), kHonestMean);
  absl::StatusOr<EncodedUpdate> encoded =
      encoder->Encode(delta, kMalloryExamples, 0.5);
  if (!encoded.ok()) return encoded.status();
  return std::move(encoded->values);
}

// Pushes a masked input; `header.masked_value_bytes()` sets the encoding
// (values are truncated to it; any other width is sent as 4 bytes).
grpc::Status PushMasked(RawClient& mallory, const v1::UpdateHeader& header,
                        const std::vector<uint32_t>& values) {
  const int width = header.masked_value_bytes() == 2 ? 2 : 4;
  std::string bytes;
  std::vector<uint32_t> narrowed = values;
  if (width == 2) {
    for (uint32_t& v : narrowed) v &= 0xffffu;
  }
  if (!AppendMaskedValues(narrowed, width, &bytes).ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "cannot encode");
  }
  return mallory.Push(header, {bytes});
}

struct Driver {
  RawClient& mallory;
  const SecAggTamper& tamper;
  v1::TaskHeader task;
  std::unique_ptr<SecAggClient> client;
  SecAggOutcome out;

  // Handles one server message; true when the upload is over.
  bool Handle(const v1::SecAggServerMessage& message,
              std::optional<v1::SecAggClientMessage>* outgoing, bool* done) {
    absl::StatusOr<SecAggClient::Reply> reply = client->Handle(message);
    if (!reply.ok()) {
      out.status = grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("mallory's own client: ", reply.status().ToString()));
      return true;
    }
    if (reply->masked_input) {
      std::vector<uint32_t> masked = *std::move(reply->masked_input);
      v1::UpdateHeader header;
      *header.mutable_ref() = task.ref();
      header.set_masked(true);
      header.set_secagg_session_id(task.secagg().session_id());
      header.set_num_values(masked.size());
      header.set_masked_value_bytes(static_cast<uint32_t>(
          MaskedValueBytes(static_cast<int>(task.secagg().modulus_bits()))));
      const bool stop =
          tamper.edit_masked ? tamper.edit_masked(masked, header) : false;
      out.status = PushMasked(mallory, header, masked);
      if (stop || !out.status.ok()) return true;
    }
    *outgoing = std::move(reply->message);
    if (reply->done) {
      *done = true;
      if (!*outgoing) {
        out.finished = true;
        return true;
      }
    }
    return false;
  }

  void Run(Duration timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    std::optional<v1::SecAggClientMessage> outgoing;
    absl::StatusOr<v1::SecAggClientMessage> first = client->Start();
    if (first.ok()) outgoing = *std::move(first);
    bool done = false;
    v1::SecAggServerMessage::MessageCase last_handled =
        v1::SecAggServerMessage::MESSAGE_NOT_SET;
    while (std::chrono::steady_clock::now() < end) {
      bool stop_after = false;
      if (outgoing && tamper.edit_message) {
        switch (tamper.edit_message(*outgoing)) {
          case SecAggTamper::Action::kDrop:
            outgoing.reset();
            break;
          case SecAggTamper::Action::kSendAndStop:
            stop_after = true;
            break;
          case SecAggTamper::Action::kSend:
            break;
        }
      }
      v1::SecAggRequest request;
      *request.mutable_ref() = task.ref();
      if (outgoing) *request.mutable_message() = *outgoing;
      v1::SecAggResponse response;
      out.status = mallory.Exchange(request, &response);
      if (stop_after || !out.status.ok()) return;
      if (outgoing && done) {
        out.finished = true;
        return;
      }
      outgoing.reset();
      if (response.aborted()) {
        out.status = grpc::Status(grpc::StatusCode::ABORTED, response.reason());
        return;
      }
      if (!response.has_message() ||
          response.message().message_case() == last_handled) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      last_handled = response.message().message_case();
      out.received.push_back(response.message());
      if (Handle(response.message(), &outgoing, &done)) return;
    }
    out.status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                              "mallory's upload did not end in time");
  }
};

}  // namespace

SecAggOutcome RunMallorySecAgg(Federation& federation, const SecAggTamper& t,
                               Duration timeout) {
  Driver driver{federation.mallory(), t, {}, nullptr, {}};
  driver.out.status = federation.mallory().Fetch(&driver.task);
  if (!driver.out.status.ok()) return driver.out;
  if (!driver.task.has_secagg()) {
    driver.out.status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                     "mallory got no secure task");
    return driver.out;
  }
  absl::StatusOr<std::vector<uint32_t>> input = EncodeMalloryInput(driver.task);
  absl::StatusOr<std::unique_ptr<SecAggClient>> client =
      input.ok()
          ? SecAggClient::Create(driver.task.secagg(),
                                 Pki::Get().Identity("mallory"),
                                 *std::move(input))
          : absl::StatusOr<std::unique_ptr<SecAggClient>>(input.status());
  if (!client.ok()) {
    driver.out.status =
        grpc::Status(grpc::StatusCode::INTERNAL, client.status().ToString());
    return driver.out;
  }
  driver.client = *std::move(client);
  driver.Run(timeout);
  return driver.out;
}

}  // namespace fedlearn::hostile
