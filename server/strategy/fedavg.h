// FedAvg (McMahan et al. 2017) as a server optimizer: w + lr * delta, no
// state. The arithmetic is the engine's historical one, bit for bit:
// float(double(w) + (lr / divisor) * sum). Thread-compatible.
#ifndef FEDLEARN_SERVER_STRATEGY_FEDAVG_H_
#define FEDLEARN_SERVER_STRATEGY_FEDAVG_H_

#include <memory>
#include <string_view>

#include "server/strategy/server_optimizer.h"

namespace fedlearn {

class FedAvgOptimizer : public ServerOptimizer {
 public:
  explicit FedAvgOptimizer(double server_learning_rate)
      : learning_rate_(server_learning_rate) {}

  std::string_view name() const override { return "fedavg"; }
  absl::StatusOr<FlatModel> Step(const FlatModel& global,
                                 const AggregatedDelta& delta) override;
  std::shared_ptr<const ServerOptimizerState> state() const override {
    return nullptr;
  }

 private:
  const double learning_rate_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_FEDAVG_H_
