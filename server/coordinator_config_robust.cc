#include "server/coordinator_config_robust.h"

#include <cmath>

#include "server/coordinator_config.h"

namespace fedlearn {

void AddRobustAggregationKeys(ConfigSchema<CoordinatorConfig>& s) {
  using Aggregator = RobustAggregationConfig::Aggregator;
  s.Enum<Aggregator>(
      "strategy.aggregator",
      "mean (weighted FedAvg) | median | trimmed_mean | krum | multi_krum;\n"
      "the robust ones keep every update, are unweighted, and need\n"
      "secagg.enabled = false and dp.mode = \"off\" (docs/strategies.md)",
      {{"mean", Aggregator::kMean},
       {"median", Aggregator::kMedian},
       {"trimmed_mean", Aggregator::kTrimmedMean},
       {"krum", Aggregator::kKrum},
       {"multi_krum", Aggregator::kMultiKrum}},
      [](auto& c) -> auto& { return c.engine.robust.aggregator; });
  s.Field(
      "strategy.trim_fraction",
      "trimmed_mean: beta in (0, 0.5), share cut from each end per "
      "coordinate",
      [](auto& c) -> auto& { return c.engine.robust.trim_fraction; });
  s.Field(
       "strategy.krum_byzantine",
       "krum, multi_krum: f, Byzantine clients tolerated (n > 2f+2)",
       [](auto& c) -> auto& { return c.engine.robust.krum_byzantine; })
      .AtLeast(0);
  s.Field(
       "strategy.multi_krum_selected",
       "multi_krum: m, best-scored updates averaged; 0 = n - f",
       [](auto& c) -> auto& { return c.engine.robust.multi_krum_selected; })
      .AtLeast(0);
  s.Field(
       "strategy.robust_max_memory_mb",
       "robust aggregators: cap on clients_per_round x model values x 4 "
       "bytes",
       [](auto& c) -> auto& { return c.engine.robust.max_memory_mb; })
      .Above(0);
}

absl::Status ValidateRobustAggregationAndProx(const CoordinatorConfig& c) {
  const double mu = c.engine.training.proximal_mu;
  if (!(mu >= 0) || !std::isfinite(mu)) {
    return absl::InvalidArgumentError(
        "training.proximal_mu must be finite and >= 0 (0 = FedAvg)");
  }
  const RoundEngineConfig& e = c.engine;
  return e.robust.Validate(e.clients_per_round, e.secagg.enabled,
                           e.dp.enabled());
}

}  // namespace fedlearn
