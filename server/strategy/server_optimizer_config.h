// The server optimizer's typed configuration ([strategy] in the
// coordinator's TOML) and its validation. Reddi et al. 2021, "Adaptive
// Federated Optimization", Algorithm 2, and Hsu et al. 2019 (FedAvgM);
// defaults follow Flower where the papers leave them open
// (docs/strategies.md lists each one and where it comes from).
//
// Validate() refuses a setting no round could use (beta outside [0, 1),
// tau <= 0, a negative eta, bias correction for an optimizer without it,
// an adaptive optimizer with a server_learning_rate other than 1: its step
// size is `eta`) and names the field (`strategy.beta_1`), which is also the
// TOML key. CheckStrategyResumable() refuses to resume a run whose saved
// optimizer state does not belong to the configured optimizer.
// Plain value types; thread-compatible.
#ifndef FEDLEARN_SERVER_STRATEGY_SERVER_OPTIMIZER_CONFIG_H_
#define FEDLEARN_SERVER_STRATEGY_SERVER_OPTIMIZER_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "server/strategy/server_optimizer_state.h"

namespace fedlearn {

struct ServerOptimizerConfig {
  enum class Kind {
    kFedAvg,
    kFedAvgM,
    kFedAdagrad,
    kFedAdam,
    kFedYogi,
    kQffl,  // q-FFL / q-FedAvg (Li et al. 2020; server/strategy/qffl.h)
  };
  // Adam's bias correction (FedAdam only): none (Reddi et al. Algorithm 2,
  // Flower before PR #4362), adam (Kingma & Ba 2015: t = rounds applied,
  // counting this one) or flower (Flower since PR #4362: exponent
  // server_round + 1, i.e. t + 1).
  enum class BiasCorrection { kNone, kAdam, kFlower };

  Kind kind = Kind::kFedAvg;
  // FedAvgM: v = momentum * v + delta; the step is server_learning_rate * v
  // (or, with nesterov, server_learning_rate * (delta + momentum * v)).
  double momentum = 0.9;
  bool nesterov = false;
  // FedAdagrad, FedAdam, FedYogi: the server step size; 0 = the
  // optimizer's Flower default (DefaultEta).
  double eta = 0.0;
  double beta_1 = 0.9;     // FedAdam, FedYogi (FedAdagrad uses 0, as Flower)
  double beta_2 = 0.99;    // FedAdam, FedYogi
  double tau = 1e-3;       // adaptivity: w += eta * m / (sqrt(v) + tau)
  double initial_v = 0.0;  // v_0 (Flower: 0; the paper asks >= tau^2)
  BiasCorrection bias_correction = BiasCorrection::kNone;
  // q-FFL: the fairness exponent q (0 = FedAvg with equal client weights)
  // and the Lipschitz estimate L sent to clients (0 = the paper's
  // 1 / training.learning_rate).
  double qffl_q = 1.0;
  double qffl_lipschitz = 0.0;

  bool adaptive() const {
    return kind == Kind::kFedAdagrad || kind == Kind::kFedAdam ||
           kind == Kind::kFedYogi;
  }
  // `eta`, or the optimizer's default when it is 0.
  double EffectiveEta() const;
  // `server_learning_rate` is the engine's (rounds.server_learning_rate).
  absl::Status Validate(double server_learning_rate) const;
};

// "fedavg", "fedavgm", "fedadagrad", "fedadam", "fedyogi", "qffl".
const char* ServerOptimizerName(ServerOptimizerConfig::Kind kind);
// Flower's eta: 0.1 (FedAdagrad, FedAdam), 0.01 (FedYogi); 1 otherwise.
double DefaultEta(ServerOptimizerConfig::Kind kind);

// Whether run `run_id`, which completed `completed_round` rounds and saved
// `saved` (nullopt: no optimizer state in its checkpoint), may resume with
// `config`. FailedPrecondition, saying what to do, if the saved state is
// another optimizer's, or if a stateful optimizer is configured for a run
// that already released rounds without its state (it ran as FedAvg).
absl::Status CheckStrategyResumable(
    const ServerOptimizerConfig& config,
    const std::optional<ServerOptimizerState>& saved, uint64_t completed_round,
    const std::string& run_id);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STRATEGY_SERVER_OPTIMIZER_CONFIG_H_
