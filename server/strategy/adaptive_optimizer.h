// The shared step of the adaptive server optimizers (Reddi et al. 2021,
// Algorithm 2): per value, in double,
//   m = beta_1 m + (1 - beta_1) delta
//   v = NextSecondMoment(v, delta^2)      (each optimizer its own rule)
//   w + eta_t * m / (sqrt(v) + tau)       (eta_t = StepSize(t), t = 1, 2..)
// m and v are rounded to float32 (the state) before they enter the model
// update, so a restored state gives exactly the next step. The subclasses
// (fedadagrad.h, fedadam.h, fedyogi.h) supply the second-moment rule and
// the step size. Thread-compatible.
#ifndef FEDLEARN_SERVER_STRATEGY_ADAPTIVE_OPTIMIZER_H_
#define FEDLEARN_SERVER_STRATEGY_ADAPTIVE_OPTIMIZER_H_

#include <cstdint>
#include <memory>

#include "server/strategy/server_optimizer.h"

namespace fedlearn {

class AdaptiveServerOptimizer : public ServerOptimizer {
 public:
  struct Params {
    double eta = 0.1;
    double beta_1 = 0.9;
    double beta_2 = 0.99;
    double tau = 1e-3;
  };

  absl::StatusOr<FlatModel> Step(const FlatModel& global,
                                 const AggregatedDelta& delta) final;
  std::shared_ptr<const ServerOptimizerState> state() const final {
    return state_;
  }

 protected:
  // REQUIRES: `state` has m and v of the model's size.
  AdaptiveServerOptimizer(Params params, ServerOptimizerState state)
      : params_(params),
        state_(std::make_shared<const ServerOptimizerState>(std::move(state))) {
  }

  // v_t from v_(t-1) and delta^2.
  virtual double NextSecondMoment(double v, double delta_squared) const = 0;
  // eta_t of step t (1 for the run's first step).
  virtual double StepSize(uint64_t t) const { return params_.eta; }

  const Params params_;

 private:
  std::shared_ptr<const ServerOptimizerState> state_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_ADAPTIVE_OPTIMIZER_H_
