// Plaintext collection: each selected client uploads its update (a delta
// from the round's global model), which is validated and folded into a
// FedAvgAggregator at once, so memory stays O(D) whatever the cohort.
//
// Weights are the declared example counts (FedAvg); in DP rounds every
// update weighs 1 and is clipped to the round's clip norm here too, so a
// client that skipped its own clipping gains nothing (DP-FedAvg), and the
// clip indicators are summed for adaptive clipping. Any rejection counts as
// the client's answer. The attempt closes when every selected client
// answered or the deadline passed; with fewer than min_updates accepted
// updates it has nothing to release (a round is never averaged over
// nobody).
//
// Thread-compatible (see round_collector.h).
#ifndef FEDLEARN_SERVER_ROUND_PLAIN_COLLECTOR_H_
#define FEDLEARN_SERVER_ROUND_PLAIN_COLLECTOR_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "server/round/fedavg_aggregator.h"
#include "server/round/round_collector.h"

namespace fedlearn {

// Content checks of an update, independent of the round's state: its size
// is `dimension`, its values and loss are finite, its example count is in
// [1, max_examples]. InvalidArgument saying what is wrong.
absl::Status CheckUpdateContent(const UpdateSubmission& submission,
                                size_t dimension, uint64_t max_examples);

class PlainCollector : public RoundCollector {
 public:
  // `dp_clip_norm`: set in DP rounds.
  PlainCollector(const AttemptSetup& setup, std::optional<double> dp_clip_norm);

  absl::Status SubmitUpdate(const std::string& client_id,
                            UpdateSubmission submission,
                            const absl::Status& content) override;
  // A selected client that left has answered (nothing will come from it).
  void OnLeave(const std::string& client_id) override;
  bool Poll(TimePoint now) override;
  absl::StatusOr<CollectionResult> Close() override;

 private:
  const TimePoint deadline_;
  const int min_updates_;
  const std::optional<double> dp_clip_norm_;
  FedAvgAggregator aggregator_;
  double loss_sum_ = 0.0;          // sum of weight * reported loss
  double dp_indicator_sum_ = 0.0;  // DP rounds: sum of +-1 clip indicators
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_PLAIN_COLLECTOR_H_
