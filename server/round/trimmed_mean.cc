#include "server/round/trimmed_mean.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {

size_t TrimmedPerSide(size_t n, double trim_fraction) {
  return static_cast<size_t>(
      std::floor(trim_fraction * static_cast<double>(n)));
}

absl::StatusOr<std::vector<float>> TrimmedMean(UpdateSet updates,
                                               double trim_fraction) {
  RETURN_IF_ERROR(CheckUpdateSet(updates));
  if (!(trim_fraction >= 0 && trim_fraction < 0.5)) {
    return absl::InvalidArgumentError(
        absl::StrCat("trim_fraction must be in [0, 0.5), got ", trim_fraction));
  }
  const size_t n = updates.size();
  const size_t k = TrimmedPerSide(n, trim_fraction);
  if (n <= 2 * k) {  // unreachable for trim_fraction < 0.5; kept as a guard
    return absl::InvalidArgumentError(
        absl::StrCat("trimming ", k, " of ", n,
                     " values from each end leaves nothing to average"));
  }
  const size_t dimension = updates[0].size();
  const double kept = static_cast<double>(n - 2 * k);
  std::vector<float> column(n);
  std::vector<float> out(dimension);
  for (size_t i = 0; i < dimension; ++i) {
    for (size_t c = 0; c < n; ++c) column[c] = updates[c][i];
    // Two partial selections, O(n): the k smallest to the front, then the
    // k largest of the rest to the back.
    if (k > 0) {
      std::nth_element(column.begin(), column.begin() + k, column.end());
      std::nth_element(column.begin() + k, column.end() - k, column.end());
    }
    double sum = 0.0;
    for (size_t c = k; c < n - k; ++c) sum += column[c];
    out[i] = static_cast<float>(sum / kept);
  }
  return out;
}

}  // namespace fedlearn
