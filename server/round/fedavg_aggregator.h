// Weighted federated averaging (McMahan et al. 2017) over a running sum.
//
// Each update is folded into one D-sized accumulator the moment it arrives,
// so memory is O(D) whatever the cohort size; the aggregator never holds the
// individual updates. Updates are deltas (trained - global) and weights are
// example counts. Callers validate content (finite values, bounded norm and
// weight: plain_collector.h) before Add.
//
// The running sum is kept in double: float32 holds at most ~3.4e38, and a
// weighted sum of float updates can exceed it (or lose the small updates
// next to a large one) long before any one term does. Results are rounded
// to float once, at the end. Thread-compatible.
#ifndef FEDLEARN_SERVER_ROUND_FEDAVG_AGGREGATOR_H_
#define FEDLEARN_SERVER_ROUND_FEDAVG_AGGREGATOR_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/flat/flat_vector.h"

namespace fedlearn {

class FedAvgAggregator {
 public:
  explicit FedAvgAggregator(size_t dimension);

  FedAvgAggregator(const FedAvgAggregator&) = delete;
  FedAvgAggregator& operator=(const FedAvgAggregator&) = delete;

  // sum += weight * update. InvalidArgument on a length mismatch or a
  // weight that is not positive and finite; the sum is untouched then.
  absl::Status Add(absl::Span<const float> update, double weight);

  size_t count() const { return count_; }
  double total_weight() const { return total_weight_; }
  size_t dimension() const { return dimension_; }

  // The weighted mean of everything added so far. FailedPrecondition when
  // nothing was added: a round is never averaged over nobody.
  absl::StatusOr<FlatVector> WeightedMean() const;

  // target += scale * WeightedMean(), in one pass and without materialising
  // the mean (the round engine applies the update to a copy of the global
  // model this way). Same preconditions as WeightedMean.
  absl::Status AddWeightedMeanTo(absl::Span<float> target, double scale) const;

  // Hands over the running weighted sum, rounded to float (DP rounds noise
  // the sum, not the mean). Add() refuses everything until Reset().
  std::vector<float> TakeSum();
  // Hands over the weighted mean, divided in double before rounding to
  // float. FailedPrecondition when nothing was added. Add() refuses
  // everything until Reset().
  absl::StatusOr<std::vector<float>> TakeMean();

  void Reset();

 private:
  size_t dimension_;
  std::vector<double> sum_;
  double total_weight_ = 0.0;
  size_t count_ = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_FEDAVG_AGGREGATOR_H_
