#include "server/round/coordinate_median.h"

#include <algorithm>

#include "common/util/status_macros.h"

namespace fedlearn {

absl::StatusOr<std::vector<float>> CoordinateMedian(UpdateSet updates) {
  RETURN_IF_ERROR(CheckUpdateSet(updates));
  const size_t n = updates.size();
  const size_t dimension = updates[0].size();
  const size_t upper = n / 2;  // the upper middle index
  std::vector<float> column(n);
  std::vector<float> out(dimension);
  for (size_t i = 0; i < dimension; ++i) {
    for (size_t c = 0; c < n; ++c) column[c] = updates[c][i];
    std::nth_element(column.begin(), column.begin() + upper, column.end());
    const double high = column[upper];
    if (n % 2 == 1) {
      out[i] = static_cast<float>(high);
      continue;
    }
    // Everything before `upper` is <= it: the lower middle is their maximum.
    const double low =
        *std::max_element(column.begin(), column.begin() + upper);
    out[i] = static_cast<float>((low + high) / 2.0);
  }
  return out;
}

}  // namespace fedlearn
