// Which rule aggregates a plaintext round's updates, and the refusals that
// come with the robust ones.
//
// kMean is weighted FedAvg (PlainCollector, O(D) memory). The robust rules
// (coordinate_median.h, trimmed_mean.h, krum.h) need every update of the
// round at once, so they run in a RobustCollector that keeps them: memory
// n x D floats. Validate() refuses, with a message naming the TOML keys to
// change:
//   * a robust rule with secure aggregation: the coordinator only ever sees
//     the sum of masked updates, and these rules need each update;
//   * a robust rule with differential privacy: the noise is calibrated to
//     the sensitivity of a sum of clipped updates, which a median, trimmed
//     mean or Krum selection does not have;
//   * a robust rule without a fixed cohort size (clients_per_round = 0), so
//     that its memory is bounded, and parameters no cohort could satisfy
//     (trimmed mean trimming nothing, Krum with clients_per_round <= 2f+2,
//     Multi-Krum selecting more than clients_per_round - f).
// CheckMemory() refuses a cohort whose updates would not fit in
// max_memory_mb. A plain value type; thread-compatible.
#ifndef FEDLEARN_SERVER_ROUND_ROBUST_AGGREGATION_CONFIG_H_
#define FEDLEARN_SERVER_ROUND_ROBUST_AGGREGATION_CONFIG_H_

#include <cstddef>

#include "absl/status/status.h"

namespace fedlearn {

struct RobustAggregationConfig {
  enum class Aggregator { kMean, kMedian, kTrimmedMean, kKrum, kMultiKrum };
  Aggregator aggregator = Aggregator::kMean;
  // Trimmed mean: beta of Yin et al. 2018, the share trimmed from each end
  // of every coordinate, in (0, 0.5).
  double trim_fraction = 0.1;
  // Krum / Multi-Krum: f, the Byzantine clients tolerated.
  int krum_byzantine = 1;
  // Multi-Krum: m, how many best-scored updates are averaged; 0 = n - f.
  int multi_krum_selected = 0;
  // Cap on the updates a robust round holds: clients_per_round x model
  // values x 4 bytes.
  double max_memory_mb = 1024;

  bool robust() const { return aggregator != Aggregator::kMean; }
  // InvalidArgument (see above). `clients_per_round` = 0: a fraction of the
  // live clients is sampled.
  absl::Status Validate(int clients_per_round, bool secagg_enabled,
                        bool dp_enabled) const;
  // InvalidArgument if a robust round of `clients_per_round` updates of
  // `dimension` values exceeds max_memory_mb. OK for kMean.
  absl::Status CheckMemory(int clients_per_round, size_t dimension) const;
};

// "mean", "median", "trimmed_mean", "krum", "multi_krum": the TOML names.
const char* AggregatorName(RobustAggregationConfig::Aggregator aggregator);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_ROBUST_AGGREGATION_CONFIG_H_
