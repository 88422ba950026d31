// Plaintext collection: each selected client uploads its update (a delta
// from the round's global model), which is validated and folded into a
// FedAvgAggregator at once, so memory stays O(D) whatever the cohort.
//
// Weights are the updates' example counts (FedAvg), each at most what its
// client declared at registration; in DP rounds every
// update weighs 1 and is clipped to the round's clip norm here too, so a
// client that skipped its own clipping gains nothing (DP-FedAvg), and the
// clip indicators are summed for adaptive clipping. The answering rules
// (one answer per client, deadline, min_updates) are UpdateCollector's.
//
// Thread-compatible (see round_collector.h).
#ifndef FEDLEARN_SERVER_ROUND_PLAIN_COLLECTOR_H_
#define FEDLEARN_SERVER_ROUND_PLAIN_COLLECTOR_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "server/round/fedavg_aggregator.h"
#include "server/round/update_collector.h"

namespace fedlearn {

// Content checks of an update, independent of the round's state: its size
// is `dimension`, its values are finite, its loss finite and >= 0, its L2
// norm at most `max_l2_norm` (so no single update can push the average out
// of float range, docs/security.md "Update bounds"), its example count in
// [1, max_examples]. InvalidArgument saying what is wrong. O(D): the engine
// calls it outside its lock.
absl::Status CheckUpdateContent(const UpdateSubmission& submission,
                                size_t dimension, uint64_t max_examples,
                                double max_l2_norm);
// The FedAvg weight an update claims may not exceed the example count its
// client declared at registration (ClientRegistry::DeclaredExamples): one
// client claiming 10^12 examples would otherwise own the average.
// InvalidArgument otherwise.
absl::Status CheckDeclaredExamples(uint64_t num_examples, uint64_t declared);

class PlainCollector : public UpdateCollector {
 public:
  // `dp_clip_norm`: set in DP rounds.
  PlainCollector(const AttemptSetup& setup, std::optional<double> dp_clip_norm);

  absl::Status SubmitUpdate(const std::string& client_id,
                            UpdateSubmission submission,
                            const absl::Status& content) override;
  absl::StatusOr<CollectionResult> Close() override;

 private:
  const std::optional<double> dp_clip_norm_;
  FedAvgAggregator aggregator_;
  double loss_sum_ = 0.0;          // sum of weight * reported loss
  double dp_indicator_sum_ = 0.0;  // DP rounds: sum of +-1 clip indicators
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_PLAIN_COLLECTOR_H_
