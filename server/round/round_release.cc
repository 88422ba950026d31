#include "server/round/round_release.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// global + learning_rate * update_sum / divisor, in one pass, computed in
// double and rounded once. OutOfRange if a value of the result is not a
// finite float: such a model is never released (nor saved, nor built upon).
absl::StatusOr<FlatModel> ApplyUpdate(const FlatModel& global,
                                      const std::vector<float>& update_sum,
                                      double divisor, double learning_rate) {
  FlatModel next{global.spec, global.values.Clone()};
  const double factor = learning_rate / divisor;
  size_t non_finite = 0;
  for (size_t i = 0; i < next.values.size(); ++i) {
    const float value = static_cast<float>(static_cast<double>(next.values[i]) +
                                           factor * update_sum[i]);
    if (!std::isfinite(value)) ++non_finite;
    next.values[i] = value;
  }
  if (non_finite > 0) {
    return absl::OutOfRangeError(absl::StrCat(
        "the aggregated model has ", non_finite, " of ", next.values.size(),
        " values that are not finite; it is not released"));
  }
  return next;
}

RoundSummary::Dp SummarizeRelease(const DpRelease& release, const DpPlanner& dp,
                                  const DpRoundPlan& plan) {
  RoundSummary::Dp out;
  out.mode = DpModeName(dp.config().mode);
  out.epsilon = release.epsilon;
  out.delta = release.delta;
  out.noise_multiplier = dp.noise_multiplier();
  out.sampling_rate = dp.config().sampling_rate;
  out.expected_clients = plan.expected_clients;
  out.clip_norm = release.clip_norm;
  out.unclipped_fraction = release.unclipped_fraction;
  out.state = dp.state();
  return out;
}

}  // namespace

const char* ReleaseFailureAdvice(const absl::Status& failure) {
  return absl::IsOutOfRange(failure) ? kNonFiniteModelAdvice : kDpReleaseAdvice;
}

absl::StatusOr<ReleasedRound> ReleaseRound(RoundAggregate aggregate,
                                           const FlatModel& global,
                                           ReleaseContext context) {
  RoundSummary summary;
  summary.run_id = std::move(context.run_id);
  summary.round = context.round;
  summary.attempt = context.attempt;
  summary.model_version = context.round;
  summary.selected = aggregate.selected;
  summary.participants = aggregate.participants;
  summary.rejected = aggregate.rejected;
  summary.total_examples = aggregate.total_examples;
  summary.train_loss = aggregate.train_loss;
  summary.secure = aggregate.secure;
  summary.quantization_error = aggregate.quantization_error;
  summary.dropped = std::move(aggregate.dropped);
  summary.failed_sites = std::move(context.failed_sites);
  std::vector<float> update = std::move(aggregate.update_sum);
  double divisor = aggregate.divisor;
  if (aggregate.private_sum.has_value()) {
    ASSIGN_OR_RETURN(
        DpRelease release,
        context.dp->Release(*context.dp_plan, *std::move(aggregate.private_sum),
                            aggregate.participants));
    summary.dp = SummarizeRelease(release, *context.dp, *context.dp_plan);
    update = std::move(release.mean_update);
    divisor = 1.0;
  }
  ASSIGN_OR_RETURN(FlatModel next, ApplyUpdate(global, update, divisor,
                                               context.server_learning_rate));
  return ReleasedRound{std::move(next), std::move(summary)};
}

}  // namespace fedlearn
