#include "server/round/plain_collector.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/dp/l2_clipping.h"
#include "common/util/log.h"
#include "server/round/round_errors.h"

namespace fedlearn {

absl::Status CheckUpdateContent(const UpdateSubmission& submission,
                                size_t dimension, uint64_t max_examples) {
  if (submission.delta.size() != dimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("update has ", submission.delta.size(),
                     " values, the model has ", dimension));
  }
  if (absl::Status s = CheckAllFinite(submission.delta.span()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("update rejected: ", s.message()));
  }
  if (submission.num_examples == 0 || submission.num_examples > max_examples) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_examples must be in [1, ", max_examples, "], got ",
                     submission.num_examples));
  }
  if (!std::isfinite(submission.train_loss)) {
    return absl::InvalidArgumentError("reported train loss is not finite");
  }
  return absl::OkStatus();
}

PlainCollector::PlainCollector(const AttemptSetup& setup,
                               std::optional<double> dp_clip_norm)
    : RoundCollector(setup.round, setup.attempt, Cohort(setup.cohort)),
      deadline_(setup.deadline),
      min_updates_(setup.config->min_updates),
      dp_clip_norm_(dp_clip_norm),
      aggregator_(setup.dimension) {}

absl::Status PlainCollector::SubmitUpdate(const std::string& client_id,
                                          UpdateSubmission submission,
                                          const absl::Status& content) {
  if (!cohort().Pending(client_id)) {
    return AlreadyAnsweredError(client_id, round());
  }
  if (!content.ok()) {
    cohort().Set(client_id, ClientRoundState::kRejected);
    spdlog::warn("round {}: rejected update from {}: {}", round(), client_id,
                 content.message());
    return content;
  }
  double weight = static_cast<double>(submission.num_examples);
  if (dp_clip_norm_.has_value()) {
    absl::StatusOr<ClipOutcome> clip =
        ClipToL2Norm(submission.delta.span(), *dp_clip_norm_);
    if (!clip.ok()) {
      cohort().Set(client_id, ClientRoundState::kRejected);
      return clip.status();
    }
    weight = 1.0;
    dp_indicator_sum_ += clip->clipped ? -1.0 : 1.0;
  }
  if (absl::Status s = aggregator_.Add(submission.delta.span(), weight);
      !s.ok()) {
    cohort().Set(client_id, ClientRoundState::kRejected);
    return s;
  }
  loss_sum_ += weight * submission.train_loss;
  cohort().Set(client_id, ClientRoundState::kAccepted);
  return absl::OkStatus();
}

void PlainCollector::OnLeave(const std::string& client_id) {
  cohort().RejectIfPending(client_id);
}

bool PlainCollector::Poll(TimePoint now) {
  return cohort().Complete() || now >= deadline_;
}

absl::StatusOr<CollectionResult> PlainCollector::Close() {
  const int accepted = static_cast<int>(aggregator_.count());
  const int rejected = cohort().rejected();
  if (accepted < min_updates_) {
    return AttemptFailure{
        absl::StrCat(accepted, " accepted update(s) of ", cohort().size(),
                     " selected (", rejected,
                     " rejected), need min_updates=", min_updates_),
        kTooFewUpdatesAdvice};
  }
  RoundAggregate out;
  out.selected = static_cast<int>(cohort().size());
  out.participants = accepted;
  out.rejected = rejected;
  out.dropped = cohort().NotAccepted();
  if (dp_clip_norm_.has_value()) {
    PrivateSum sum;
    sum.update_sum = aggregator_.TakeSum();
    sum.indicator_sum = dp_indicator_sum_;
    out.private_sum = std::move(sum);
    return out;
  }
  out.total_examples = aggregator_.total_weight();
  out.train_loss = loss_sum_ / aggregator_.total_weight();
  out.divisor = aggregator_.total_weight();
  out.update_sum = aggregator_.TakeSum();
  return out;
}

}  // namespace fedlearn
