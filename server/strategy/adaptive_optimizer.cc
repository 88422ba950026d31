#include "server/strategy/adaptive_optimizer.h"

#include <cmath>
#include <utility>

namespace fedlearn {

absl::StatusOr<FlatModel> AdaptiveServerOptimizer::Step(
    const FlatModel& global, const AggregatedDelta& delta) {
  FlatModel next{global.spec, global.values.Clone()};
  auto state = std::make_shared<ServerOptimizerState>(*state_);
  const double eta_t = StepSize(state->steps + 1);
  size_t non_finite = 0;
  for (size_t i = 0; i < next.values.size(); ++i) {
    const double d = static_cast<double>(delta.sum[i]) / delta.divisor;
    const float m =
        static_cast<float>(params_.beta_1 * static_cast<double>(state->m[i]) +
                           (1.0 - params_.beta_1) * d);
    const float v = static_cast<float>(
        NextSecondMoment(static_cast<double>(state->v[i]), d * d));
    const float w = static_cast<float>(
        static_cast<double>(next.values[i]) +
        eta_t * static_cast<double>(m) /
            (std::sqrt(static_cast<double>(v)) + params_.tau));
    if (!std::isfinite(w) || !std::isfinite(m) || !std::isfinite(v)) {
      ++non_finite;
    }
    state->m[i] = m;
    state->v[i] = v;
    next.values[i] = w;
  }
  if (non_finite > 0)
    return NonFiniteModelError(non_finite, next.values.size());
  ++state->steps;
  state_ = std::move(state);
  return next;
}

}  // namespace fedlearn
