// q-FFL / q-FedAvg (Li, Sanjabi, Beirami, Smith, ICLR 2020, "Fair Resource
// Allocation in Federated Learning", Algorithm 2) on the coordinator.
//
// Clients send the D + 1 values of common/config/qffl_update.h, each with
// example count 1, so the round's aggregate is their plain sum (or mean: the
// divisor cancels). Step() releases
//   w_next = float(double(w) + lr * sum_j / (H * sum_D)),   j < D,
// = w - lr * sum_k Delta_k / sum_k h_k, with lr = rounds.server_learning_rate
// (1: the paper). It only needs the two sums, so it runs unchanged on a
// secure aggregate. For q = 0 (sum_D = n / H exactly) the factor is lr / n
// and the arithmetic is FedAvg's, bit for bit, with equal client weights.
// Refuses (OutOfRange, nothing released) a denominator sum that is not
// positive and finite, and a model value that is not finite. Stateless.
//
// Refused at config load (CheckQfflCombination): q-FFL with differential
// privacy (h_k grows with ||delta||^2 and F^q: one client's influence on the
// denominator is unbounded, so no noise can be calibrated to it) and with a
// robust aggregator (a median or Krum of the stacked values is not the ratio
// of sums the method is).
// Thread-compatible: the round engine calls it under its lock.
#ifndef FEDLEARN_SERVER_STRATEGY_QFFL_H_
#define FEDLEARN_SERVER_STRATEGY_QFFL_H_

#include <cstddef>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "common/config/training_config.h"
#include "server/strategy/server_optimizer.h"
#include "server/strategy/server_optimizer_config.h"

namespace fedlearn {

class QfflOptimizer : public ServerOptimizer {
 public:
  QfflOptimizer(double server_learning_rate, size_t dimension)
      : learning_rate_(server_learning_rate), dimension_(dimension) {}

  std::string_view name() const override { return "qffl"; }
  // REQUIRES: delta.sum.size() == dimension + 1 (the trailing value is the
  // denominator slot); global.values.size() == dimension.
  absl::StatusOr<FlatModel> Step(const FlatModel& global,
                                 const AggregatedDelta& delta) override;
  std::shared_ptr<const ServerOptimizerState> state() const override {
    return nullptr;
  }

 private:
  const double learning_rate_;
  const size_t dimension_;
};

// Values in one client update under `config`: the model's `dimension`, plus
// q-FFL's denominator slot.
size_t UpdateValues(const ServerOptimizerConfig& config, size_t dimension);

// Fills the task's q-FFL fields (a no-op unless config names qffl):
// qffl_q = config.qffl_q, qffl_lipschitz = config.qffl_lipschitz or, when 0,
// 1 / training->learning_rate.
void SetQfflTaskFields(const ServerOptimizerConfig& config,
                       TrainingConfig* training);

// InvalidArgument, naming the keys and why, for q-FFL with DP or with a
// robust aggregator; OK otherwise (and for every other strategy).
absl::Status CheckQfflCombination(const ServerOptimizerConfig& config,
                                  bool dp_enabled, bool robust_aggregator);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_QFFL_H_
