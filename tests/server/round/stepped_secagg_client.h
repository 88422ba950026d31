// A test client that runs one secure upload against a RoundEngine by hand,
// as client/secure_upload.cc does over the network: Begin() fetches the
// round's task and builds the masked vector with the caller's encoder,
// Step() makes one exchange (delivering the pending message and handling
// the reply, submitting the masked input when the protocol produces it).
// No faults: tests that need crashes, forged shares or false blame use
// secure_round_engine_test.cc's SimulatedClient.
//
// Begin() reports failures with gtest assertions (call it inside
// ASSERT_NO_FATAL_FAILURE). Not thread-safe; one client per instance.
#ifndef FEDLEARN_TESTS_SERVER_ROUND_STEPPED_SECAGG_CLIENT_H_
#define FEDLEARN_TESTS_SERVER_ROUND_STEPPED_SECAGG_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/secagg/secagg_client.h"
#include "common/secagg/encoding_proto.h"
#include "common/secagg/input_encoding.h"
#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "tests/server/secagg/secagg_harness.h"

namespace fedlearn::testing {

// The update's encoding as the client sends it without DP
// (client/update_encoding.cc), from the task's SecAggEncoding.
inline absl::StatusOr<std::vector<uint32_t>> EncodePlainUpdate(
    const Task& task, absl::Span<const float> delta, uint64_t num_examples,
    double train_loss) {
  absl::StatusOr<InputEncoder> encoder =
      InputEncoder::Create(EncodingParametersFromProto(task.encoding));
  if (!encoder.ok()) return encoder.status();
  absl::StatusOr<EncodedUpdate> encoded =
      encoder->Encode(delta, num_examples, train_loss);
  if (!encoded.ok()) return encoded.status();
  if (encoded->clipped_fraction != 0) {
    return absl::InvalidArgumentError("the test update was clipped");
  }
  return std::move(encoded->values);
}

class SteppedSecAggClient {
 public:
  // The masked vector's plaintext for the fetched task.
  using Encoder =
      std::function<absl::StatusOr<std::vector<uint32_t>>(const Task&)>;

  // `clear_eval_report` goes with the masked input in the clear (per-site
  // federated evaluation); empty: none.
  SteppedSecAggClient(int index, Encoder encoder,
                      std::vector<uint64_t> clear_eval_report = {})
      : index_(index),
        id_(TestPki::ClientId(index)),
        encoder_(std::move(encoder)),
        clear_eval_report_(std::move(clear_eval_report)) {}

  const std::string& id() const { return id_; }
  const Task& task() const { return *task_; }
  bool active() const { return active_; }
  // What SubmitMaskedInput returned (OK before it was called).
  const absl::Status& masked_status() const { return masked_status_; }

  void Begin(RoundEngine& engine) {
    absl::StatusOr<FetchOutcome> fetched = engine.FetchTask(id_);
    ASSERT_TRUE(fetched.ok()) << fetched.status();
    ASSERT_TRUE(fetched->task.has_value()) << id_ << ": " << fetched->reason;
    task_ = *std::move(fetched->task);
    ASSERT_NE(task_->secagg, nullptr);
    absl::StatusOr<std::vector<uint32_t>> values = encoder_(*task_);
    ASSERT_TRUE(values.ok()) << values.status();
    absl::StatusOr<std::unique_ptr<SecAggClient>> client = SecAggClient::Create(
        *task_->secagg, TestPki::Get().Identity(index_), *std::move(values));
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    absl::StatusOr<v1::SecAggClientMessage> first = client_->Start();
    ASSERT_TRUE(first.ok()) << first.status();
    outgoing_ = *std::move(first);
    active_ = true;
  }

  void Step(RoundEngine& engine) {
    if (!active_) return;
    absl::StatusOr<SecAggExchangeReply> reply = engine.SecAggExchange(
        id_, task_->run_id, task_->round, outgoing_ ? &*outgoing_ : nullptr);
    outgoing_.reset();
    if (!reply.ok() || reply->aborted || done_) {
      active_ = false;
      return;
    }
    if (!reply->message || reply->message->message_case() == last_handled_) {
      return;
    }
    last_handled_ = reply->message->message_case();
    absl::StatusOr<SecAggClient::Reply> step = client_->Handle(*reply->message);
    if (!step.ok()) {
      active_ = false;
      return;
    }
    if (step->masked_input) {
      masked_status_ = engine.SubmitMaskedInput(
          id_, task_->run_id, task_->round, *std::move(step->masked_input),
          clear_eval_report_);
      if (!masked_status_.ok()) {
        active_ = false;
        return;
      }
    }
    outgoing_ = std::move(step->message);
    done_ = step->done;
    if (done_ && !outgoing_) active_ = false;
  }

 private:
  const int index_;
  const std::string id_;
  const Encoder encoder_;
  const std::vector<uint64_t> clear_eval_report_;
  std::optional<Task> task_;
  std::unique_ptr<SecAggClient> client_;
  std::optional<v1::SecAggClientMessage> outgoing_;
  v1::SecAggServerMessage::MessageCase last_handled_ =
      v1::SecAggServerMessage::MESSAGE_NOT_SET;
  absl::Status masked_status_;
  bool done_ = false;
  bool active_ = false;
};

}  // namespace fedlearn::testing

#endif  // FEDLEARN_TESTS_SERVER_ROUND_STEPPED_SECAGG_CLIENT_H_
