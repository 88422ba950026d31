// ServerOptimizer: how a round's aggregated update moves the global model.
//
// Every optimizer takes the round's pseudo-gradient delta = sum / divisor
// (the weighted mean of the clients' deltas, or in DP rounds the noised
// mean: delta points downhill, so descent is w + step) and returns
//   FedAvg      w + lr * delta                          (stateless)
//   FedAvgM     v = beta v + delta; w + lr * v          (Hsu et al. 2019)
//   FedAdagrad  m = delta;  v = v + delta^2
//   FedAdam     m = b1 m + (1-b1) delta;  v = b2 v + (1-b2) delta^2
//   FedYogi     m as FedAdam; v = v - (1-b2) delta^2 sign(v - delta^2)
//               adaptive ones: w + eta_t * m / (sqrt(v) + tau)
//   q-FFL       w + lr * sum_j / (H * sum_D)  (stateless; its update has
//               one more value, the denominator: server/strategy/qffl.h)
// (Reddi et al. 2021, Algorithm 2; docs/strategies.md has every detail.)
// Arithmetic is in double; the state is kept in float32 and the model is
// rounded to float32 once per value. FedAvg computes exactly what the
// engine always did: float(w + (lr / divisor) * sum).
//
// Step() is transactional: it adopts its new state only when it returns a
// model. It refuses (OutOfRange, the state unchanged) a step whose model or
// state has a value that is not finite: such a model is never released.
// Only the state that produced a released model is ever persisted.
// Thread-compatible: the round engine calls it under its lock.
#ifndef FEDLEARN_SERVER_STRATEGY_SERVER_OPTIMIZER_H_
#define FEDLEARN_SERVER_STRATEGY_SERVER_OPTIMIZER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/flat/flat_vector.h"
#include "server/strategy/server_optimizer_config.h"
#include "server/strategy/server_optimizer_state.h"

namespace fedlearn {

// The round's aggregated update: delta_i = sum[i] / divisor.
struct AggregatedDelta {
  absl::Span<const float> sum;
  double divisor = 1.0;
};

class ServerOptimizer {
 public:
  virtual ~ServerOptimizer() = default;

  virtual std::string_view name() const = 0;

  // REQUIRES: delta.sum.size() == global.values.size() == the dimension the
  // optimizer was created for (q-FFL: delta.sum has one more value);
  // delta.divisor > 0.
  virtual absl::StatusOr<FlatModel> Step(const FlatModel& global,
                                         const AggregatedDelta& delta) = 0;

  // The state after the last successful Step (or as restored); null for a
  // stateless optimizer (FedAvg), which persists nothing.
  virtual std::shared_ptr<const ServerOptimizerState> state() const = 0;
};

// The optimizer `config` names, for models of `dimension` values, starting
// from `restored` (a resumed run) or from zero moments. InvalidArgument if
// the config does not validate; FailedPrecondition if `restored` belongs to
// another optimizer, has other sizes, or holds a value that is not finite
// (or, for v, negative).
absl::StatusOr<std::unique_ptr<ServerOptimizer>> CreateServerOptimizer(
    const ServerOptimizerConfig& config, double server_learning_rate,
    size_t dimension, std::optional<ServerOptimizerState> restored);

// The refusal of a model with `non_finite` of `total` values not finite;
// the same message whichever optimizer produced it.
absl::Status NonFiniteModelError(size_t non_finite, size_t total);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_SERVER_OPTIMIZER_H_
