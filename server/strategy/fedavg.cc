#include "server/strategy/fedavg.h"

#include <cmath>

namespace fedlearn {

absl::StatusOr<FlatModel> FedAvgOptimizer::Step(const FlatModel& global,
                                                const AggregatedDelta& delta) {
  FlatModel next{global.spec, global.values.Clone()};
  const double factor = learning_rate_ / delta.divisor;
  size_t non_finite = 0;
  for (size_t i = 0; i < next.values.size(); ++i) {
    const float value = static_cast<float>(static_cast<double>(next.values[i]) +
                                           factor * delta.sum[i]);
    if (!std::isfinite(value)) ++non_finite;
    next.values[i] = value;
  }
  if (non_finite > 0)
    return NonFiniteModelError(non_finite, next.values.size());
  return next;
}

}  // namespace fedlearn
