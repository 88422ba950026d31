// FedAvgM (Hsu et al. 2019, "Measuring the Effects of Non-Identical Data
// Distribution for Federated Visual Classification"): server momentum on
// the pseudo-gradient,
//   v = momentum * v + delta;  w + lr * v
// or, with Nesterov (PyTorch's SGD convention), w + lr * (delta +
// momentum * v). v starts at 0, so round 1 steps by lr * delta, as
// Flower's FedAvgM (which has no Nesterov variant). Thread-compatible.
#ifndef FEDLEARN_SERVER_STRATEGY_FEDAVGM_H_
#define FEDLEARN_SERVER_STRATEGY_FEDAVGM_H_

#include <memory>
#include <string_view>

#include "server/strategy/server_optimizer.h"

namespace fedlearn {

class FedAvgMOptimizer : public ServerOptimizer {
 public:
  // REQUIRES: `state` has v empty and m of the model's size.
  FedAvgMOptimizer(double server_learning_rate, double momentum, bool nesterov,
                   ServerOptimizerState state)
      : learning_rate_(server_learning_rate),
        momentum_(momentum),
        nesterov_(nesterov),
        state_(std::make_shared<const ServerOptimizerState>(std::move(state))) {
  }

  std::string_view name() const override { return "fedavgm"; }
  absl::StatusOr<FlatModel> Step(const FlatModel& global,
                                 const AggregatedDelta& delta) override;
  std::shared_ptr<const ServerOptimizerState> state() const override {
    return state_;
  }

 private:
  const double learning_rate_;
  const double momentum_;
  const bool nesterov_;
  std::shared_ptr<const ServerOptimizerState> state_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_FEDAVGM_H_
