// FedYogi (Reddi et al. 2021, Algorithm 2; Zaheer et al. 2018):
//   v = v - (1 - beta_2) delta^2 sign(v - delta^2),  sign(0) = 0
// (numpy's np.sign, as Flower). v never turns negative from v_0 >= 0.
// Thread-compatible.
#ifndef FEDLEARN_SERVER_STRATEGY_FEDYOGI_H_
#define FEDLEARN_SERVER_STRATEGY_FEDYOGI_H_

#include <string_view>

#include "server/strategy/adaptive_optimizer.h"

namespace fedlearn {

class FedYogiOptimizer : public AdaptiveServerOptimizer {
 public:
  FedYogiOptimizer(Params params, ServerOptimizerState state)
      : AdaptiveServerOptimizer(params, std::move(state)) {}

  std::string_view name() const override { return "fedyogi"; }

 protected:
  double NextSecondMoment(double v, double delta_squared) const override {
    const double diff = v - delta_squared;
    const double sign = (diff > 0) - (diff < 0);
    return v - (1.0 - params_.beta_2) * delta_squared * sign;
  }
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_FEDYOGI_H_
