#include "server/strategy/fedavgm.h"

#include <cmath>
#include <utility>

namespace fedlearn {

absl::StatusOr<FlatModel> FedAvgMOptimizer::Step(const FlatModel& global,
                                                 const AggregatedDelta& delta) {
  FlatModel next{global.spec, global.values.Clone()};
  auto state = std::make_shared<ServerOptimizerState>(*state_);
  size_t non_finite = 0;
  for (size_t i = 0; i < next.values.size(); ++i) {
    const double d = static_cast<double>(delta.sum[i]) / delta.divisor;
    const float v =
        static_cast<float>(momentum_ * static_cast<double>(state->m[i]) + d);
    const double step = nesterov_ ? d + momentum_ * static_cast<double>(v)
                                  : static_cast<double>(v);
    const float w = static_cast<float>(static_cast<double>(next.values[i]) +
                                       learning_rate_ * step);
    if (!std::isfinite(w) || !std::isfinite(v)) ++non_finite;
    state->m[i] = v;
    next.values[i] = w;
  }
  if (non_finite > 0)
    return NonFiniteModelError(non_finite, next.values.size());
  ++state->steps;
  state_ = std::move(state);
  return next;
}

}  // namespace fedlearn
