// Splits one site's dataset into the part it trains on and a held-out part
// it only ever evaluates on (federated evaluation, the contract's
// EvaluationSpec: holdout_fraction, split_seed).
//
// Guarantees, for labels in [0, num_classes) and fraction in (0, 1):
//  - every index is in exactly one part; the parts never share an example,
//    so nothing held out is ever trained on;
//  - stratified by label: a class with n >= 2 examples holds out
//    h = clamp(round(fraction * n), 1, n - 1) of them (halves round up), so
//    at least one, and never the whole class; a class with fewer than 2
//    examples is held out not at all (its only example trains);
//  - deterministic: a pure function of (labels, num_classes, fraction,
//    seed), identical on every platform and standard library (a
//    Fisher-Yates shuffle driven by std::mt19937_64, whose output the C++
//    standard fixes, with unbiased rejection sampling; never std::shuffle).
//    A restarted site, and a simulation's virtual site, so hold out exactly
//    the same examples as before;
//  - `train` is in ascending index order; `holdout` is in a seeded random
//    order, so its first k entries are a random subset (evaluating only the
//    first max_examples is not biased by the file's order).
// Refuses (InvalidArgument): a fraction outside (0, 1) or not finite,
// num_classes < 1, a label outside [0, num_classes), a Dataset whose groups
// are neither empty nor one per example.
// Thread-safety: reentrant functions on values.
#ifndef FEDLEARN_COMMON_DATA_HOLDOUT_SPLIT_H_
#define FEDLEARN_COMMON_DATA_HOLDOUT_SPLIT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace fedlearn {

struct HoldoutIndices {
  std::vector<size_t> train;    // ascending
  std::vector<size_t> holdout;  // seeded random order
};

absl::StatusOr<HoldoutIndices> SplitHoldoutIndices(
    const std::vector<int32_t>& labels, int32_t num_classes, double fraction,
    uint64_t seed);

// How many of a class of `class_size` examples are held out (see above).
// REQUIRES: fraction in (0, 1).
size_t HeldOutCount(size_t class_size, double fraction);

struct HoldoutSplit {
  Dataset train;
  Dataset holdout;
};

// SplitHoldoutIndices applied to `data` (groups travel with their examples).
absl::StatusOr<HoldoutSplit> SplitHoldout(const Dataset& data, double fraction,
                                          uint64_t seed);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_HOLDOUT_SPLIT_H_
