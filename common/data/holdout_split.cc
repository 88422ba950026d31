#include "common/data/holdout_split.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// A uniform draw from [0, bound), bound >= 1: rejection of the top partial
// range of mt19937_64's 64-bit output, so the result is unbiased and the
// same on every standard library (std::uniform_int_distribution is not).
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - (max % bound + 1) % bound;  // draws <= limit
  uint64_t r = rng();
  while (r > limit) r = rng();
  return r % bound;
}

// Fisher-Yates (Knuth, TAOCP vol. 2, Algorithm P) with UniformBelow.
void Shuffle(std::vector<size_t>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    std::swap(v[i - 1], v[UniformBelow(rng, i)]);
  }
}

}  // namespace

size_t HeldOutCount(size_t class_size, double fraction) {
  if (class_size < 2) return 0;
  const double wanted = std::floor(fraction * class_size + 0.5);
  const size_t h = wanted < 1 ? 1 : static_cast<size_t>(wanted);
  return std::min(h, class_size - 1);
}

absl::StatusOr<HoldoutIndices> SplitHoldoutIndices(
    const std::vector<int32_t>& labels, int32_t num_classes, double fraction,
    uint64_t seed) {
  if (!(fraction > 0 && fraction < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the held-out fraction must be in (0, 1), got ", fraction));
  }
  if (num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_classes must be >= 1, got ", num_classes));
  }
  std::vector<std::vector<size_t>> by_class(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", labels[i], " of sample ", i,
                       " is outside [0, ", num_classes, ")"));
    }
    by_class[labels[i]].push_back(i);
  }
  std::mt19937_64 rng(seed);
  HoldoutIndices out;
  for (std::vector<size_t>& members : by_class) {
    Shuffle(members, rng);
    const size_t h = HeldOutCount(members.size(), fraction);
    out.holdout.insert(out.holdout.end(), members.begin(), members.begin() + h);
    out.train.insert(out.train.end(), members.begin() + h, members.end());
  }
  std::sort(out.train.begin(), out.train.end());
  // Interleave the classes: any prefix is a random subset.
  Shuffle(out.holdout, rng);
  return out;
}

absl::StatusOr<HoldoutSplit> SplitHoldout(const Dataset& data, double fraction,
                                          uint64_t seed) {
  if (!data.groups.empty() && data.groups.size() != data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the dataset has ", data.groups.size(),
                     " group entries for ", data.size(), " examples"));
  }
  ASSIGN_OR_RETURN(
      HoldoutIndices indices,
      SplitHoldoutIndices(data.labels, data.num_classes, fraction, seed));
  HoldoutSplit split;
  split.train = data.Subset(indices.train);
  split.holdout = data.Subset(indices.holdout);
  return split;
}

}  // namespace fedlearn
