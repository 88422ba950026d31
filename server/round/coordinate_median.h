// Coordinate-wise median of client updates (Yin et al. 2018, "Byzantine-
// Robust Distributed Learning: Towards Optimal Statistical Rates", the
// "median" rule).
//
// out[i] = median over clients of updates[c][i]; with an even number of
// updates, the mean of the two middle values (computed in double, rounded
// to float once). Unweighted, as in the paper: every update counts once,
// whatever its example count, so a client cannot buy influence by claiming
// examples. With n updates and fewer than n/2 of them arbitrary, each
// coordinate stays within the range of the honest values.
//
// Refuses (InvalidArgument) an empty set or updates of different lengths.
// O(n * D) time, O(n) scratch. Stateless; thread-safe.
#ifndef FEDLEARN_SERVER_ROUND_COORDINATE_MEDIAN_H_
#define FEDLEARN_SERVER_ROUND_COORDINATE_MEDIAN_H_

#include <vector>

#include "absl/status/statusor.h"
#include "server/round/robust_update_set.h"

namespace fedlearn {

absl::StatusOr<std::vector<float>> CoordinateMedian(UpdateSet updates);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_COORDINATE_MEDIAN_H_
