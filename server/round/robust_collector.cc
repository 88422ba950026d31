#include "server/round/robust_collector.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "server/round/coordinate_median.h"
#include "server/round/krum.h"
#include "server/round/round_errors.h"
#include "server/round/trimmed_mean.h"

namespace fedlearn {

using Aggregator = RobustAggregationConfig::Aggregator;

RobustCollector::RobustCollector(const AttemptSetup& setup)
    : UpdateCollector(setup), config_(setup.config->robust) {
  updates_.reserve(setup.cohort.size());
}

absl::Status RobustCollector::SubmitUpdate(const std::string& client_id,
                                           UpdateSubmission submission,
                                           const absl::Status& content) {
  RETURN_IF_ERROR(AdmitUpdate(client_id, content));
  ASSIGN_OR_RETURN(std::optional<SiteEvalReport> report,
                   AdmitEvalReport(client_id, submission.eval_report));
  KeepEvalReport(client_id, std::move(report));
  const double examples = static_cast<double>(submission.num_examples);
  total_examples_ += examples;
  loss_sum_ += examples * submission.train_loss;
  updates_.push_back(std::move(submission.delta));
  senders_.push_back(client_id);
  cohort().Set(client_id, ClientRoundState::kAccepted);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> RobustCollector::Aggregate() const {
  std::vector<absl::Span<const float>> views;
  views.reserve(updates_.size());
  for (const FlatVector& u : updates_) views.push_back(u.span());
  switch (config_.aggregator) {
    case Aggregator::kMedian:
      return CoordinateMedian(views);
    case Aggregator::kTrimmedMean:
      if (TrimmedPerSide(views.size(), config_.trim_fraction) == 0) {
        spdlog::warn(
            "round {}: trimmed mean of {} updates at trim_fraction {} trims "
            "nothing (the plain unweighted mean)",
            round(), views.size(), config_.trim_fraction);
      }
      return TrimmedMean(views, config_.trim_fraction);
    case Aggregator::kKrum:
    case Aggregator::kMultiKrum: {
      const int f = config_.krum_byzantine;
      int m = 1;
      if (config_.aggregator == Aggregator::kMultiKrum) {
        m = config_.multi_krum_selected > 0
                ? config_.multi_krum_selected
                : static_cast<int>(views.size()) - f;
      }
      ASSIGN_OR_RETURN(KrumSelection selection, MultiKrum(views, f, m));
      std::vector<std::string> chosen;
      for (size_t i : selection.selected) chosen.push_back(senders_[i]);
      spdlog::info("round {}: {} selected {} of {} updates: {}", round(),
                   AggregatorName(config_.aggregator), chosen.size(),
                   views.size(), DescribeClientList(chosen));
      return std::move(selection.aggregate);
    }
    case Aggregator::kMean:
      break;
  }
  return absl::InternalError("RobustCollector runs without a robust rule");
}

absl::StatusOr<CollectionResult> RobustCollector::Close() {
  const int accepted = static_cast<int>(updates_.size());
  if (std::optional<AttemptFailure> failure = TooFewUpdates(accepted)) {
    return *std::move(failure);
  }
  absl::StatusOr<std::vector<float>> aggregate = Aggregate();
  if (absl::IsFailedPrecondition(aggregate.status())) {
    return AttemptFailure{std::string(aggregate.status().message()),
                          kKrumTooFewAdvice};
  }
  if (!aggregate.ok()) return aggregate.status();
  RoundAggregate out = CountedAggregate(accepted);
  out.total_examples = total_examples_;
  out.train_loss = loss_sum_ / total_examples_;
  out.update_sum = *std::move(aggregate);
  out.divisor = 1.0;  // already a mean delta
  updates_.clear();
  return out;
}

}  // namespace fedlearn
