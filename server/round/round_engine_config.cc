#include "server/round/round_engine_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/evaluation/site_eval_report.h"
#include "common/util/status_macros.h"
#include "server/strategy/qffl.h"

namespace fedlearn {
namespace {

absl::Status Invalid(const char* message) {
  return absl::InvalidArgumentError(message);
}

// Secure aggregation: the cohort is large enough for the protocol and the
// encoding cannot overflow for it.
absl::Status ValidateSecureAggregation(const RoundEngineConfig& c) {
  const bool fixed_cohort = !c.dp.enabled() && c.clients_per_round > 0;
  if (c.min_clients < 3 || (fixed_cohort && c.clients_per_round < 3)) {
    return Invalid(
        "secure aggregation needs at least 3 clients per round: raise "
        "min_clients and clients_per_round to 3 or more, or disable secure "
        "aggregation (secagg.enabled = false)");
  }
  RETURN_IF_ERROR(c.secagg.Validate());
  // secagg.Validate() checks the encoding for the smallest cohort (3). With
  // a fixed cohort size, an encoding whose sum could overflow for it is
  // refused now, not when round 1 starts.
  if (fixed_cohort) {
    RETURN_IF_ERROR(
        InputEncoder::Create(c.secagg.Encoding(c.clients_per_round)).status());
  }
  return absl::OkStatus();
}

// Federated evaluation: the largest field of a report is its loss sum, at
// most max_examples * max_loss / kEvalLossUnit per site. Every registered
// site's must add up without wrapping 64 bits, or a sum would have to drop
// a report.
absl::Status CheckEvaluationSumFits(const RoundEngineConfig& c) {
  if (!c.evaluation.enabled() || !c.contract.has_evaluation()) {
    return absl::OkStatus();
  }
  const double largest = static_cast<double>(c.evaluation.max_examples) *
                         c.contract.evaluation().max_loss() / kEvalLossUnit *
                         static_cast<double>(c.max_registered_clients);
  if (!(largest < 0x1p63)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "evaluation.max_examples * evaluation.max_loss is too large for ",
        c.max_registered_clients,
        " registered clients: the sum of their evaluation reports' loss "
        "totals could overflow 64 bits; lower either"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RoundEngineConfig::Validate() const {
  if (run_id.empty()) return Invalid("run_id is empty");
  // The evaluation-only job trains no round.
  if (num_rounds < (evaluation.job ? 0 : 1)) {
    return Invalid("num_rounds must be >= 1");
  }
  if (min_clients < 1) return Invalid("min_clients must be >= 1");
  if (clients_per_round < 0) return Invalid("clients_per_round must be >= 0");
  if (clients_per_round == 0 && !(fraction > 0 && fraction <= 1)) {
    return Invalid("fraction must be in (0, 1]");
  }
  if (min_updates < 1) return Invalid("min_updates must be >= 1");
  if (!dp.enabled() && clients_per_round > 0 &&
      min_updates > clients_per_round) {
    return absl::InvalidArgumentError(absl::StrCat(
        "min_updates (", min_updates, ") exceeds clients_per_round (",
        clients_per_round, "): no round could ever be aggregated"));
  }
  if (round_timeout.count() <= 0) {
    return Invalid("round_timeout must be positive");
  }
  if (max_round_attempts < 1) {
    return Invalid("max_round_attempts must be >= 1");
  }
  if (!(server_learning_rate > 0) || !std::isfinite(server_learning_rate)) {
    return Invalid("server_learning_rate must be positive");
  }
  if (secagg.enabled) RETURN_IF_ERROR(ValidateSecureAggregation(*this));
  if (max_examples_per_update < 1) {
    return Invalid("max_examples_per_update must be >= 1");
  }
  // Below float32's range, so one update's values are finite floats.
  if (!(max_update_l2_norm > 0) || !(max_update_l2_norm <= 1e30)) {
    return Invalid("max_update_l2_norm must be in (0, 1e30]");
  }
  // Named as the coordinator's key too: its config test pins that name until
  // the TOML adapter adds key names itself.
  if (!(secagg_error.max_relative_error >= 0) ||
      !std::isfinite(secagg_error.max_relative_error)) {
    return Invalid(
        "secagg_error.max_relative_error (secagg.max_relative_error) must be "
        ">= 0 (0 disables the check)");
  }
  RETURN_IF_ERROR(
      robust.Validate(clients_per_round, secagg.enabled, dp.enabled()));
  if (!(training.proximal_mu >= 0) || !std::isfinite(training.proximal_mu)) {
    return Invalid("training.proximal_mu must be finite and >= 0");
  }
  RETURN_IF_ERROR(strategy.Validate(server_learning_rate));
  RETURN_IF_ERROR(
      CheckQfflCombination(strategy, dp.enabled(), robust.robust()));
  RETURN_IF_ERROR(evaluation.Validate(dp.enabled(), num_rounds));
  RETURN_IF_ERROR(CheckEvaluationSumFits(*this));
  return dp.Validate(num_rounds, secagg.enabled);
}

}  // namespace fedlearn
