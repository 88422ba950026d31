#include "server/strategy/qffl.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/config/qffl_update.h"

namespace fedlearn {

absl::StatusOr<FlatModel> QfflOptimizer::Step(const FlatModel& global,
                                              const AggregatedDelta& delta) {
  if (delta.sum.size() != QfflUpdateValues(dimension_) ||
      global.values.size() != dimension_) {
    return absl::InternalError(
        absl::StrCat("q-FFL: the aggregate has ", delta.sum.size(),
                     " values and the model ", global.values.size(),
                     "; expected ", dimension_ + 1, " and ", dimension_));
  }
  // sum_D = sum_k h_k / (L H): the divisor cancels in the ratio.
  const double denominator = delta.sum[dimension_];
  if (!(denominator > 0) || !std::isfinite(denominator)) {
    return absl::OutOfRangeError(
        absl::StrCat("q-FFL: the denominator sum (sum of h_k / (L H)) is ",
                     denominator, ", not positive; the round is not released"));
  }
  const double factor = learning_rate_ / (kQfflDenominatorScale * denominator);
  FlatModel next{global.spec, global.values.Clone()};
  size_t non_finite = 0;
  for (size_t i = 0; i < dimension_; ++i) {
    const float value = static_cast<float>(static_cast<double>(next.values[i]) +
                                           factor * delta.sum[i]);
    if (!std::isfinite(value)) ++non_finite;
    next.values[i] = value;
  }
  if (non_finite > 0) return NonFiniteModelError(non_finite, dimension_);
  return next;
}

size_t UpdateValues(const ServerOptimizerConfig& config, size_t dimension) {
  return config.kind == ServerOptimizerConfig::Kind::kQffl
             ? QfflUpdateValues(dimension)
             : dimension;
}

void SetQfflTaskFields(const ServerOptimizerConfig& config,
                       TrainingConfig* training) {
  if (config.kind != ServerOptimizerConfig::Kind::kQffl) return;
  training->qffl_q = config.qffl_q;
  training->qffl_lipschitz = config.qffl_lipschitz > 0
                                 ? config.qffl_lipschitz
                                 : 1.0 / training->learning_rate;
}

absl::Status CheckQfflCombination(const ServerOptimizerConfig& config,
                                  bool dp_enabled, bool robust_aggregator) {
  if (config.kind != ServerOptimizerConfig::Kind::kQffl) {
    return absl::OkStatus();
  }
  if (dp_enabled) {
    return absl::InvalidArgumentError(
        "strategy.name = \"qffl\" is refused with differential privacy "
        "(dp.mode): q-FFL's denominator h_k = q F^(q-1) ||L delta||^2 + L F^q "
        "grows without bound with the update and the loss, so one client's "
        "influence (the sensitivity) is unbounded and no noise can be "
        "calibrated to it; set dp.mode = \"off\" or use another strategy");
  }
  if (robust_aggregator) {
    return absl::InvalidArgumentError(
        "strategy.name = \"qffl\" needs strategy.aggregator = \"mean\": "
        "q-FedAvg is a ratio of two sums over the clients, which a median, "
        "trimmed mean or Krum selection does not compute");
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
