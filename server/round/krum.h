// Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with
// Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS).
//
// With n updates of which at most f are Byzantine, each update i gets the
// score s(i) = sum of the squared L2 distances from i to its n - f - 2
// nearest other updates. Krum returns the update with the lowest score;
// Multi-Krum (the paper's Section 5) the unweighted mean of the m updates
// with the lowest scores, from one scoring pass (not the iterated variant of
// El Mhamdi et al. 2018). m = 1 is Krum; ties go to the lower index.
// Unweighted, as in the paper.
//
// Refuses: FailedPrecondition when n <= 2f + 2 (the paper's condition
// 2f + 2 < n: with fewer updates the f Byzantine ones can win the score) or
// when m is not in [1, n - f] (the selection could then need a Byzantine
// update); InvalidArgument for an empty set or updates of different
// lengths. Distances are computed in double. O(n^2 * D) time, O(n^2) memory
// besides the output. Stateless; thread-safe.
#ifndef FEDLEARN_SERVER_ROUND_KRUM_H_
#define FEDLEARN_SERVER_ROUND_KRUM_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "server/round/robust_update_set.h"

namespace fedlearn {

struct KrumSelection {
  std::vector<float> aggregate;  // the selected updates' mean
  std::vector<size_t> selected;  // their indices, best score first
  std::vector<double> scores;    // s(i) for every update i
};

// FailedPrecondition naming n and f unless n > 2f + 2.
absl::Status CheckKrumCohort(size_t n, int byzantine);

// `selected` = m (1: Krum).
absl::StatusOr<KrumSelection> MultiKrum(UpdateSet updates, int byzantine,
                                        int selected);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_KRUM_H_
