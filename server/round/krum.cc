#include "server/round/krum.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

double SquaredDistance(absl::Span<const float> a, absl::Span<const float> b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    sum += d * d;
  }
  return sum;
}

// s(i) for every i: the sum of its `neighbours` smallest distances.
std::vector<double> KrumScores(UpdateSet updates, size_t neighbours) {
  const size_t n = updates.size();
  std::vector<double> distance(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      distance[i * n + j] = distance[j * n + i] =
          SquaredDistance(updates[i], updates[j]);
    }
  }
  std::vector<double> scores(n);
  std::vector<double> row;
  for (size_t i = 0; i < n; ++i) {
    row.clear();
    for (size_t j = 0; j < n; ++j) {
      if (j != i) row.push_back(distance[i * n + j]);
    }
    std::partial_sort(row.begin(), row.begin() + neighbours, row.end());
    scores[i] = std::accumulate(row.begin(), row.begin() + neighbours, 0.0);
  }
  return scores;
}

}  // namespace

absl::Status CheckKrumCohort(size_t n, int byzantine) {
  if (byzantine < 0) {
    return absl::InvalidArgumentError("krum_byzantine must be >= 0");
  }
  const size_t needed = 2 * static_cast<size_t>(byzantine) + 3;
  if (n < needed) {
    return absl::FailedPreconditionError(
        absl::StrCat("Krum with f = ", byzantine,
                     " Byzantine clients needs more than 2f+2 = ", needed - 1,
                     " updates (Blanchard et al. 2017), got ", n));
  }
  return absl::OkStatus();
}

absl::StatusOr<KrumSelection> MultiKrum(UpdateSet updates, int byzantine,
                                        int selected) {
  RETURN_IF_ERROR(CheckUpdateSet(updates));
  const size_t n = updates.size();
  RETURN_IF_ERROR(CheckKrumCohort(n, byzantine));
  const size_t f = static_cast<size_t>(byzantine);
  if (selected < 1 || static_cast<size_t>(selected) > n - f) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Multi-Krum must select between 1 and n - f = ", n - f,
        " updates (n = ", n, ", f = ", f, "), asked for ", selected));
  }
  KrumSelection out;
  out.scores = KrumScores(updates, n - f - 2);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return out.scores[a] < out.scores[b];
  });
  out.selected.assign(order.begin(), order.begin() + selected);
  const size_t dimension = updates[0].size();
  std::vector<double> sum(dimension, 0.0);
  for (size_t index : out.selected) {
    for (size_t i = 0; i < dimension; ++i) sum[i] += updates[index][i];
  }
  out.aggregate.resize(dimension);
  for (size_t i = 0; i < dimension; ++i) {
    out.aggregate[i] = static_cast<float>(sum[i] / selected);
  }
  return out;
}

}  // namespace fedlearn
