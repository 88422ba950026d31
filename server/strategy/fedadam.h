// FedAdam (Reddi et al. 2021, Algorithm 2): v = beta_2 v + (1 - beta_2)
// delta^2, optionally with Adam's bias correction folded into the step
// size (ServerOptimizerConfig::BiasCorrection):
//   none    eta_t = eta                                  (the paper)
//   adam    eta_t = eta sqrt(1 - beta_2^t) / (1 - beta_1^t)   (Kingma & Ba)
//   flower  the same with t + 1 (Flower's `server_round + 1.0`)
// Thread-compatible.
#ifndef FEDLEARN_SERVER_STRATEGY_FEDADAM_H_
#define FEDLEARN_SERVER_STRATEGY_FEDADAM_H_

#include <string_view>

#include "server/strategy/adaptive_optimizer.h"

namespace fedlearn {

class FedAdamOptimizer : public AdaptiveServerOptimizer {
 public:
  using BiasCorrection = ServerOptimizerConfig::BiasCorrection;
  FedAdamOptimizer(Params params, BiasCorrection bias_correction,
                   ServerOptimizerState state)
      : AdaptiveServerOptimizer(params, std::move(state)),
        bias_correction_(bias_correction) {}

  std::string_view name() const override { return "fedadam"; }

 protected:
  double NextSecondMoment(double v, double delta_squared) const override {
    return params_.beta_2 * v + (1.0 - params_.beta_2) * delta_squared;
  }
  double StepSize(uint64_t t) const override;

 private:
  const BiasCorrection bias_correction_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_FEDADAM_H_
