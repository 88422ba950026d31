#include "server/strategy/server_optimizer.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "server/strategy/fedadagrad.h"
#include "server/strategy/fedadam.h"
#include "server/strategy/fedavg.h"
#include "server/strategy/fedavgm.h"
#include "server/strategy/fedyogi.h"
#include "server/strategy/qffl.h"

namespace fedlearn {
namespace {

using Kind = ServerOptimizerConfig::Kind;

// Zero moments of the sizes `kind` keeps, or `restored` checked against
// them.
absl::StatusOr<ServerOptimizerState> InitialState(
    const ServerOptimizerConfig& config, size_t dimension,
    std::optional<ServerOptimizerState> restored) {
  const std::string name = ServerOptimizerName(config.kind);
  const size_t v_size = config.adaptive() ? dimension : 0;
  if (!restored.has_value()) {
    ServerOptimizerState fresh;
    fresh.optimizer = name;
    fresh.m.assign(dimension, 0.0f);
    fresh.v.assign(v_size, static_cast<float>(config.initial_v));
    return fresh;
  }
  ServerOptimizerState& s = *restored;
  if (s.optimizer != name) {
    return absl::FailedPreconditionError(
        absl::StrCat("the saved optimizer state is ", s.optimizer,
                     "'s, but the run is configured for ", name));
  }
  if (s.m.size() != dimension || s.v.size() != v_size) {
    return absl::FailedPreconditionError(
        absl::StrCat("the saved ", name, " state has ", s.m.size(), " + ",
                     s.v.size(), " values; a model of ", dimension, " needs ",
                     dimension, " + ", v_size));
  }
  for (float x : s.m) {
    if (!std::isfinite(x)) {
      return absl::FailedPreconditionError(
          "the saved optimizer state holds a value that is not finite");
    }
  }
  for (float x : s.v) {
    if (!std::isfinite(x) || x < 0) {
      return absl::FailedPreconditionError(
          "the saved optimizer state holds a second moment that is negative "
          "or not finite");
    }
  }
  return std::move(s);
}

}  // namespace

absl::Status NonFiniteModelError(size_t non_finite, size_t total) {
  return absl::OutOfRangeError(
      absl::StrCat("the aggregated model has ", non_finite, " of ", total,
                   " values that are not finite; it is not released"));
}

absl::StatusOr<std::unique_ptr<ServerOptimizer>> CreateServerOptimizer(
    const ServerOptimizerConfig& config, double server_learning_rate,
    size_t dimension, std::optional<ServerOptimizerState> restored) {
  if (absl::Status s = config.Validate(server_learning_rate); !s.ok()) {
    return absl::InvalidArgumentError(s.message());
  }
  if (config.kind == Kind::kFedAvg || config.kind == Kind::kQffl) {
    if (restored.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the saved optimizer state is ", restored->optimizer,
                       "'s, but the run is configured for ",
                       ServerOptimizerName(config.kind)));
    }
    if (config.kind == Kind::kQffl) {
      return std::make_unique<QfflOptimizer>(server_learning_rate, dimension);
    }
    return std::make_unique<FedAvgOptimizer>(server_learning_rate);
  }
  ASSIGN_OR_RETURN(ServerOptimizerState state,
                   InitialState(config, dimension, std::move(restored)));
  AdaptiveServerOptimizer::Params p;
  p.eta = config.EffectiveEta();
  p.beta_1 = config.beta_1;
  p.beta_2 = config.beta_2;
  p.tau = config.tau;
  switch (config.kind) {
    case Kind::kFedAvgM:
      return std::make_unique<FedAvgMOptimizer>(
          server_learning_rate, config.momentum, config.nesterov,
          std::move(state));
    case Kind::kFedAdagrad:
      return std::make_unique<FedAdagradOptimizer>(p, std::move(state));
    case Kind::kFedAdam:
      return std::make_unique<FedAdamOptimizer>(p, config.bias_correction,
                                                std::move(state));
    case Kind::kFedYogi:
      return std::make_unique<FedYogiOptimizer>(p, std::move(state));
    case Kind::kFedAvg:
    case Kind::kQffl:
      break;
  }
  return absl::InternalError("unknown server optimizer");
}

}  // namespace fedlearn
