#include "server/round/round_release.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "server/strategy/fedavg.h"

namespace fedlearn {
namespace {

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
  // Without an optimizer (callers that predate them): FedAvg, the same
  // arithmetic the engine always used.
  FedAvgOptimizer fedavg(context.server_learning_rate);
  ServerOptimizer* optimizer =
      context.optimizer != nullptr ? context.optimizer : &fedavg;
  ASSIGN_OR_RETURN(FlatModel next,
                   optimizer->Step(global, AggregatedDelta{update, divisor}));
  summary.strategy_state = optimizer->state();
  return ReleasedRound{std::move(next), std::move(summary)};
}

}  // namespace fedlearn
