// FedAdagrad (Reddi et al. 2021, Algorithm 2): v = v + delta^2, with
// m = delta (beta_1 = 0, as Flower's FedAdagrad fixes it). Thread-compatible.
#ifndef FEDLEARN_SERVER_STRATEGY_FEDADAGRAD_H_
#define FEDLEARN_SERVER_STRATEGY_FEDADAGRAD_H_

#include <string_view>

#include "server/strategy/adaptive_optimizer.h"

namespace fedlearn {

class FedAdagradOptimizer : public AdaptiveServerOptimizer {
 public:
  // params.beta_1 and beta_2 are ignored (0 and unused).
  FedAdagradOptimizer(Params params, ServerOptimizerState state)
      : AdaptiveServerOptimizer(WithoutMomentum(params), std::move(state)) {}

  std::string_view name() const override { return "fedadagrad"; }

 protected:
  double NextSecondMoment(double v, double delta_squared) const override {
    return v + delta_squared;
  }

 private:
  static Params WithoutMomentum(Params p) {
    p.beta_1 = 0.0;
    return p;
  }
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_FEDADAGRAD_H_
