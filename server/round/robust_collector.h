// Plaintext collection for the robust aggregators (coordinate median,
// trimmed mean, Krum, Multi-Krum): each selected client's update is
// validated as in PlainCollector (the engine's CheckUpdateContent and
// CheckDeclaredExamples: shape, finite values, bounded norm, example count)
// and then kept, because these rules need every update of the round at
// once. Memory is n x D floats for n accepted updates, n <= the cohort size
// <= rounds.clients_per_round, and RobustAggregationConfig::CheckMemory
// bounds that product when the engine is created.
//
// The rules are unweighted (as in their papers): example counts do not
// weigh the aggregate; they are still summed for the round's summary, and
// the reported train loss stays example-weighted. Close() returns the
// aggregate as a mean delta (divisor 1), released by the same path as
// FedAvg (round_release.h). The answering rules (one answer per client, a
// rejection or a departure counts, deadline, min_updates) are
// UpdateCollector's, as for PlainCollector.
// Krum with too few accepted updates (n <= 2f+2) or Multi-Krum asked for
// more than n - f fails the attempt with the reason (the engine retries it).
// Never used with secure aggregation or DP (RobustAggregationConfig refuses
// both).
//
// Thread-compatible (see round_collector.h).
#ifndef FEDLEARN_SERVER_ROUND_ROBUST_COLLECTOR_H_
#define FEDLEARN_SERVER_ROUND_ROBUST_COLLECTOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/flat/flat_vector.h"
#include "server/round/robust_aggregation_config.h"
#include "server/round/update_collector.h"

namespace fedlearn {

// What to change when Krum cannot run on the updates an attempt collected.
inline constexpr char kKrumTooFewAdvice[] =
    "raise min_updates above 2 x krum_byzantine + 2, lower krum_byzantine, "
    "or add clients";

class RobustCollector : public UpdateCollector {
 public:
  // REQUIRES: setup.config->robust.robust(), no DP plan.
  explicit RobustCollector(const AttemptSetup& setup);

  absl::Status SubmitUpdate(const std::string& client_id,
                            UpdateSubmission submission,
                            const absl::Status& content) override;
  absl::StatusOr<CollectionResult> Close() override;

 private:
  // The configured rule over updates_, or why it cannot run.
  absl::StatusOr<std::vector<float>> Aggregate() const;

  const RobustAggregationConfig config_;
  std::vector<FlatVector> updates_;  // accepted, in arrival order
  std::vector<std::string> senders_;
  double total_examples_ = 0.0;
  double loss_sum_ = 0.0;  // sum of examples * reported loss
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_ROBUST_COLLECTOR_H_
