// The [strategy] keys that fill a ServerOptimizerConfig, declared once here
// and added to the coordinator's config schema
// (server/coordinator_config_schema.cc). The schema checks each key's range;
// the cross-key rules are ServerOptimizerConfig::Validate's, whose messages
// name these same keys. docs/strategies.md explains every default.
// Header-only (a template over the program's config type), so this module
// does not depend on the program's configuration library.
// Thread-safety: call while the schema is built.
#ifndef FEDLEARN_SERVER_STRATEGY_STRATEGY_CONFIG_KEYS_H_
#define FEDLEARN_SERVER_STRATEGY_STRATEGY_CONFIG_KEYS_H_

#include "common/config/config_schema.h"
#include "server/strategy/server_optimizer_config.h"

namespace fedlearn {

// `ref` is a generic lambda `[](auto& c) -> auto& { return c.strategy; }`.
template <typename Config, typename Ref>
void AddStrategyKeys(ConfigSchema<Config>& s, Ref ref) {
  using Kind = ServerOptimizerConfig::Kind;
  using Bias = ServerOptimizerConfig::BiasCorrection;
  s.Section("strategy",
            "server optimizer (name) and aggregator; docs/strategies.md");
  s.template Enum<Kind>(
      "strategy.name",
      "fedavg | fedavgm | fedadagrad | fedadam | fedyogi (Reddi et al. "
      "2021) | qffl (Li et al. 2020)",
      {{"fedavg", Kind::kFedAvg},
       {"fedavgm", Kind::kFedAvgM},
       {"fedadagrad", Kind::kFedAdagrad},
       {"fedadam", Kind::kFedAdam},
       {"fedyogi", Kind::kFedYogi},
       {"qffl", Kind::kQffl}},
      [ref](auto& c) -> auto& { return ref(c).kind; });
  s.Field(
       "strategy.momentum",
       "fedavgm: v = momentum * v + delta; step = "
       "rounds.server_learning_rate * v",
       [ref](auto& c) -> auto& { return ref(c).momentum; })
      .Within(0, 1, false, true);
  s.Field(
      "strategy.nesterov",
      "fedavgm: step by delta + momentum * v", [ref](auto& c) -> auto& {
        return ref(c).nesterov;
      });
  s.Field(
       "strategy.eta",
       "adaptive: server step size; 0 = Flower's (0.1 fedadagrad/fedadam, "
       "0.01 fedyogi)",
       [ref](auto& c) -> auto& { return ref(c).eta; })
      .AtLeast(0);
  s.Field(
       "strategy.beta_1", "fedadam, fedyogi: first-moment decay",
       [ref](auto& c) -> auto& { return ref(c).beta_1; })
      .Within(0, 1, false, true);
  s.Field(
       "strategy.beta_2", "fedadam, fedyogi: second-moment decay",
       [ref](auto& c) -> auto& { return ref(c).beta_2; })
      .Within(0, 1, false, true);
  s.Field(
       "strategy.tau", "adaptive: w += eta * m / (sqrt(v) + tau)",
       [ref](auto& c) -> auto& { return ref(c).tau; })
      .Above(0);
  s.Field(
       "strategy.initial_v", "adaptive: v before round 1 (the paper: >= tau^2)",
       [ref](auto& c) -> auto& { return ref(c).initial_v; })
      .AtLeast(0);
  s.template Enum<Bias>(
      "strategy.bias_correction",
      "fedadam: none (the paper) | adam (Kingma & Ba, t) | flower "
      "(Flower since its PR #4362: t + 1)",
      {{"none", Bias::kNone}, {"adam", Bias::kAdam}, {"flower", Bias::kFlower}},
      [ref](auto& c) -> auto& { return ref(c).bias_correction; });
  s.Field(
       "strategy.qffl_q",
       "qffl: fairness exponent q; 0 = FedAvg with equal client weights",
       [ref](auto& c) -> auto& { return ref(c).qffl_q; })
      .AtLeast(0);
  s.Field(
       "strategy.qffl_lipschitz",
       "qffl: Lipschitz estimate L; 0 = 1 / training.learning_rate (the "
       "paper's)",
       [ref](auto& c) -> auto& { return ref(c).qffl_lipschitz; })
      .AtLeast(0);
}

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_STRATEGY_CONFIG_KEYS_H_
