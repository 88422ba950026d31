#include "server/round/robust_aggregation_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "server/round/krum.h"
#include "server/round/trimmed_mean.h"

namespace fedlearn {
namespace {

using Aggregator = RobustAggregationConfig::Aggregator;

absl::Status CheckTrimmedMean(const RobustAggregationConfig& c,
                              int clients_per_round) {
  if (!(c.trim_fraction > 0 && c.trim_fraction < 0.5)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "strategy.trim_fraction must be in (0, 0.5), got ", c.trim_fraction,
        ": it is the share of values removed from each end of every "
        "coordinate, so at least one value must remain"));
  }
  if (TrimmedPerSide(clients_per_round, c.trim_fraction) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "aggregator = \"trimmed_mean\" with strategy.trim_fraction = ",
        c.trim_fraction, " and rounds.clients_per_round = ", clients_per_round,
        " trims floor(", c.trim_fraction, " x ", clients_per_round,
        ") = 0 values: that is the plain mean; raise trim_fraction or "
        "clients_per_round"));
  }
  return absl::OkStatus();
}

absl::Status CheckKrum(const RobustAggregationConfig& c,
                       int clients_per_round) {
  if (c.krum_byzantine < 0) {
    return absl::InvalidArgumentError("strategy.krum_byzantine must be >= 0");
  }
  if (absl::Status s = CheckKrumCohort(clients_per_round, c.krum_byzantine);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rounds.clients_per_round = ", clients_per_round, ": ", s.message(),
        "; lower strategy.krum_byzantine or raise clients_per_round"));
  }
  if (c.aggregator != Aggregator::kMultiKrum) return absl::OkStatus();
  const int most = clients_per_round - c.krum_byzantine;
  if (c.multi_krum_selected < 0 || c.multi_krum_selected > most) {
    return absl::InvalidArgumentError(absl::StrCat(
        "strategy.multi_krum_selected must be in [0, clients_per_round - "
        "krum_byzantine] = [0, ",
        most, "] (0 = n - f), got ", c.multi_krum_selected));
  }
  return absl::OkStatus();
}

}  // namespace

const char* AggregatorName(Aggregator aggregator) {
  switch (aggregator) {
    case Aggregator::kMean:
      return "mean";
    case Aggregator::kMedian:
      return "median";
    case Aggregator::kTrimmedMean:
      return "trimmed_mean";
    case Aggregator::kKrum:
      return "krum";
    case Aggregator::kMultiKrum:
      return "multi_krum";
  }
  return "unknown";
}

absl::Status RobustAggregationConfig::Validate(int clients_per_round,
                                               bool secagg_enabled,
                                               bool dp_enabled) const {
  if (!robust()) return absl::OkStatus();
  const std::string name =
      absl::StrCat("aggregator = \"", AggregatorName(aggregator), "\"");
  if (secagg_enabled) {
    return absl::InvalidArgumentError(absl::StrCat(
        name,
        " is refused with secure aggregation: the coordinator only sees the "
        "sum of masked updates; median/trimmed mean/Krum need individual "
        "updates; set [secagg] enabled = false (and accept that the "
        "coordinator sees each update) or use aggregator = \"mean\""));
  }
  if (dp_enabled) {
    return absl::InvalidArgumentError(absl::StrCat(
        name,
        " is refused with differential privacy: the noise is calibrated to "
        "the sensitivity of a sum of clipped updates (one client moves it by "
        "at most clip_norm), and a median, trimmed mean or Krum selection has "
        "a different sensitivity that this coordinator does not calibrate; "
        "use aggregator = \"mean\" with [dp], or dp.mode = \"off\""));
  }
  if (clients_per_round <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        name,
        " keeps every update of a round in memory: set "
        "rounds.clients_per_round (> 0) so that the cohort, and its memory, "
        "is bounded"));
  }
  if (!(max_memory_mb > 0) || !std::isfinite(max_memory_mb)) {
    return absl::InvalidArgumentError(
        "strategy.robust_max_memory_mb must be positive");
  }
  switch (aggregator) {
    case Aggregator::kTrimmedMean:
      return CheckTrimmedMean(*this, clients_per_round);
    case Aggregator::kKrum:
    case Aggregator::kMultiKrum:
      return CheckKrum(*this, clients_per_round);
    default:
      return absl::OkStatus();
  }
}

absl::Status RobustAggregationConfig::CheckMemory(int clients_per_round,
                                                  size_t dimension) const {
  if (!robust()) return absl::OkStatus();
  const double mb = static_cast<double>(clients_per_round) *
                    static_cast<double>(dimension) * sizeof(float) /
                    (1024.0 * 1024.0);
  if (mb > max_memory_mb) {
    return absl::InvalidArgumentError(absl::StrCat(
        "aggregator = \"", AggregatorName(aggregator),
        "\" keeps every update of a round: rounds.clients_per_round (",
        clients_per_round, ") x ", dimension, " model values x 4 bytes = ", mb,
        " MiB exceeds strategy.robust_max_memory_mb (", max_memory_mb,
        "); lower clients_per_round, raise robust_max_memory_mb, or use "
        "aggregator = \"mean\" (O(model) memory)"));
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
