// Coordinate-wise trimmed mean of client updates (Yin et al. 2018,
// "Byzantine-Robust Distributed Learning: Towards Optimal Statistical
// Rates", the "trimmed mean" rule).
//
// For each coordinate, the k = floor(trim_fraction * n) largest and the k
// smallest of the n values are removed and the remaining n - 2k averaged (in
// double, rounded to float once). Unweighted, as in the paper. trim_fraction
// is the paper's beta: the share of updates assumed Byzantine, in [0, 0.5);
// k = 0 is the plain unweighted mean.
//
// Refuses (InvalidArgument) an empty set, updates of different lengths, and
// a trim_fraction outside [0, 0.5) (nothing, or less than one value per
// coordinate, would remain). O(n * D) time, O(n) scratch. Stateless;
// thread-safe.
#ifndef FEDLEARN_SERVER_ROUND_TRIMMED_MEAN_H_
#define FEDLEARN_SERVER_ROUND_TRIMMED_MEAN_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "server/round/robust_update_set.h"

namespace fedlearn {

// k: how many values TrimmedMean removes from each end for n updates.
size_t TrimmedPerSide(size_t n, double trim_fraction);

absl::StatusOr<std::vector<float>> TrimmedMean(UpdateSet updates,
                                               double trim_fraction);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_TRIMMED_MEAN_H_
