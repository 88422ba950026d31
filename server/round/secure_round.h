// One round attempt's secure aggregation, as the round engine sees it:
// wraps the SecAggServer state machine (server/secagg/) with the deadlines
// the engine owns and the decoding of the final sum.
//
// The first phase (advertise keys) is open until the round's training
// deadline, since clients advertise once they have trained; every later
// phase closes when all remaining clients answered or `phase_timeout`
// passed. Non-responders are dropouts; the state machine aborts with a
// reason if too few remain, and the engine then retries the round.
//
// With config.ca_pem set, every AdvertiseKeys is verified before it is
// forwarded (server/secagg/advertisement_verifier.h): a failing sender is a
// dropout of this attempt. Such senders and the blame lodged in client
// Aborts are turned into Exclusions() (server/secagg/blame_resolution.h),
// which the engine keeps out of the round's later attempts.
#ifndef FEDLEARN_SERVER_ROUND_SECURE_ROUND_H_
#define FEDLEARN_SERVER_ROUND_SECURE_ROUND_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dp/private_input_codec.h"
#include "common/secagg/input_encoding.h"
#include "common/util/clock.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "server/round/secagg_round_config.h"
#include "server/secagg/blame_resolution.h"
#include "server/secagg/secagg_server.h"

namespace fedlearn {

class SecureRound {
 public:
  enum class Status { kRunning, kCompleted, kAborted };

  // `cohort` is sorted; `dimension` is the model's number of values. `dp`
  // (may be null) makes the masked vectors DP encodings
  // (common/dp/private_input_codec.h). `tail_length` values follow the
  // update's encoding in every masked vector (federated evaluation's
  // EvalVectorCodec); they are summed but not decoded here.
  static absl::StatusOr<std::unique_ptr<SecureRound>> Start(
      const SecAggRoundConfig& config, uint64_t round, int attempt,
      std::vector<std::string> cohort, size_t dimension,
      TimePoint training_deadline, const v1::DpTaskConfig* dp = nullptr,
      size_t tail_length = 0);

  const v1::SecAggConfig& protocol_config() const { return protocol_config_; }
  const v1::SecAggEncoding& encoding() const { return encoding_proto_; }
  size_t encoded_length() const { return update_length() + tail_length_; }
  // The update's part of a masked vector (its first values).
  size_t update_length() const {
    return dp_codec_ ? dp_codec_->encoded_length()
                     : InputEncoder::EncodedLength(dimension_);
  }

  absl::Status HandleMessage(const std::string& client_id,
                             const v1::SecAggClientMessage& message);
  absl::Status HandleMaskedInput(const std::string& client_id,
                                 absl::Span<const uint32_t> masked);
  std::optional<v1::SecAggServerMessage> PendingMessageFor(
      const std::string& client_id) const;

  // Closes the current phase if everyone answered or its deadline passed.
  Status Poll(TimePoint now);
  absl::Status abort_reason() const;
  // After kCompleted: the decoded weighted mean of the survivors' updates.
  absl::StatusOr<DecodedAggregate> TakeAggregate();
  // After kCompleted: the whole unmasked sum (encoded_length() values).
  // TakeSum, TakeAggregate and TakePrivateSum: one of them, once.
  absl::StatusOr<std::vector<uint32_t>> TakeSum();
  // The decoded weighted mean from a TakeSum() result's update part.
  absl::StatusOr<DecodedAggregate> DecodeUpdate(
      absl::Span<const uint32_t> sum) const;
  // After kCompleted in a DP round: the decoded sum, for DpPlanner::Release.
  absl::StatusOr<PrivateSum> TakePrivateSum();
  int participants() const;
  // The clients whose masked inputs are in the sum (U3), once known.
  std::vector<std::string> survivors() const;
  // Who this attempt shows must not take part in the round's retries, and
  // why: senders of advertisements the coordinator refused, and the outcome
  // of ResolveBlame over the blame lodged so far. Sorted by id, each once.
  std::vector<BlameExclusion> Exclusions() const;
  // The phases entered since the last call, in order (for
  // RoundListener::OnPhaseStarted): "AdvertiseKeys" once the first key
  // advertisement is accepted (before it the cohort is still training),
  // then each later SecAggServerPhaseName as the server enters it; never
  // "Completed" or "Aborted".
  std::vector<std::string> TakePhasesEntered();

  // What the attempt's server reported that the engine acts on.
  struct Incidents {
    std::vector<BlameExclusion> rejected_advertisements;
    std::vector<BlameEdge> blame;
    std::vector<std::string> phases_entered;  // see TakePhasesEntered()
  };

 private:
  SecureRound(const SecAggRoundConfig& config, size_t dimension,
              size_t tail_length, InputEncoder encoder)
      : config_(config),
        dimension_(dimension),
        tail_length_(tail_length),
        encoder_(std::move(encoder)) {}

  const SecAggRoundConfig config_;
  const size_t dimension_;
  const size_t tail_length_;
  InputEncoder encoder_;
  v1::SecAggConfig protocol_config_;
  v1::SecAggEncoding encoding_proto_;
  std::optional<PrivateInputCodec> dp_codec_;
  Incidents incidents_;  // filled by server_'s listener
  std::unique_ptr<SecAggServer> server_;
  TimePoint phase_deadline_;
  bool advertised_ = false;  // an advertisement was accepted
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_SECURE_ROUND_H_
