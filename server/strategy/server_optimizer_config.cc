#include "server/strategy/server_optimizer_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace fedlearn {
namespace {

using Kind = ServerOptimizerConfig::Kind;

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

// [0, 1): beta = 1 would never forget (and FedAvgM's v would grow without
// bound); the papers use 0.9 and 0.99.
absl::Status CheckBeta(const char* field, double beta) {
  if (!(beta >= 0 && beta < 1)) {
    return Invalid(absl::StrCat(field, " must be in [0, 1), not ", beta));
  }
  return absl::OkStatus();
}

}  // namespace

const char* ServerOptimizerName(Kind kind) {
  switch (kind) {
    case Kind::kFedAvg:
      return "fedavg";
    case Kind::kFedAvgM:
      return "fedavgm";
    case Kind::kFedAdagrad:
      return "fedadagrad";
    case Kind::kFedAdam:
      return "fedadam";
    case Kind::kFedYogi:
      return "fedyogi";
    case Kind::kQffl:
      return "qffl";
  }
  return "?";
}

double DefaultEta(Kind kind) {
  switch (kind) {
    case Kind::kFedAdagrad:
    case Kind::kFedAdam:
      return 0.1;
    case Kind::kFedYogi:
      return 0.01;
    case Kind::kFedAvg:
    case Kind::kFedAvgM:
    case Kind::kQffl:
      break;
  }
  return 1.0;
}

double ServerOptimizerConfig::EffectiveEta() const {
  return eta == 0 ? DefaultEta(kind) : eta;
}

absl::Status ServerOptimizerConfig::Validate(
    double server_learning_rate) const {
  if (kind == Kind::kFedAvgM) {
    if (absl::Status s = CheckBeta("strategy.momentum", momentum); !s.ok()) {
      return s;
    }
  }
  if (bias_correction != BiasCorrection::kNone && kind != Kind::kFedAdam) {
    return Invalid(
        absl::StrCat("strategy.bias_correction applies to fedadam only, not ",
                     ServerOptimizerName(kind), "; leave it \"none\""));
  }
  if (kind == Kind::kQffl) {
    if (!(qffl_q >= 0) || !std::isfinite(qffl_q)) {
      return Invalid(absl::StrCat(
          "strategy.qffl_q must be finite and >= 0, not ", qffl_q));
    }
    if (!(qffl_lipschitz >= 0) || !std::isfinite(qffl_lipschitz)) {
      return Invalid(absl::StrCat(
          "strategy.qffl_lipschitz must be finite and >= 0 (0 = 1 / "
          "training.learning_rate), not ",
          qffl_lipschitz));
    }
  }
  if (!adaptive()) return absl::OkStatus();
  if (server_learning_rate != 1.0) {
    return Invalid(absl::StrCat(ServerOptimizerName(kind),
                                " steps by strategy.eta; leave "
                                "rounds.server_learning_rate at 1 (it is ",
                                server_learning_rate, ")"));
  }
  if (!(eta >= 0) || !std::isfinite(eta)) {
    return Invalid(
        "strategy.eta must be positive (0 = the optimizer's default)");
  }
  if (absl::Status s = CheckBeta("strategy.beta_1", beta_1); !s.ok()) return s;
  if (absl::Status s = CheckBeta("strategy.beta_2", beta_2); !s.ok()) return s;
  if (!(tau > 0) || !std::isfinite(tau)) {
    return Invalid(absl::StrCat("strategy.tau must be positive, not ", tau));
  }
  if (!(initial_v >= 0) || !std::isfinite(initial_v)) {
    return Invalid("strategy.initial_v must be finite and >= 0");
  }
  return absl::OkStatus();
}

absl::Status CheckStrategyResumable(
    const ServerOptimizerConfig& config,
    const std::optional<ServerOptimizerState>& saved, uint64_t completed_round,
    const std::string& run_id) {
  const std::string configured = ServerOptimizerName(config.kind);
  if (saved.has_value() && saved->optimizer != configured) {
    return absl::FailedPreconditionError(
        absl::StrCat("run '", run_id, "' was trained with [strategy] name = \"",
                     saved->optimizer,
                     "\" (its checkpoint holds that optimizer's state), "
                     "not \"",
                     configured,
                     "\"; resume it with the same strategy or start "
                     "a new run (another run id)"));
  }
  // FedAvg and q-FFL keep no state: either may resume a run saved without.
  if (!saved.has_value() && config.kind != Kind::kFedAvg &&
      config.kind != Kind::kQffl && completed_round > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run '", run_id, "' released ", completed_round,
        " round(s) with fedavg (its checkpoint holds no optimizer state); "
        "resume it with [strategy] name = \"fedavg\" or start a new run "
        "(another run id) with \"",
        configured, "\""));
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
