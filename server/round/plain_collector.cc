#include "server/round/plain_collector.h"

#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/dp/l2_clipping.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "server/round/round_errors.h"

namespace fedlearn {

absl::Status CheckUpdateContent(const UpdateSubmission& submission,
                                size_t dimension, uint64_t max_examples,
                                double max_l2_norm) {
  if (submission.delta.size() != dimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("update has ", submission.delta.size(),
                     " values, the model has ", dimension));
  }
  // In double: the squares of floats cannot overflow it, so a finite sum
  // of squares (measured while the upload was decoded) means every value
  // is finite; otherwise the values are read again to name the bad one.
  double squares = submission.squared_norm.value_or(0.0);
  if (!submission.squared_norm.has_value() || !std::isfinite(squares)) {
    if (absl::Status s = CheckAllFinite(submission.delta.span()); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("update rejected: ", s.message()));
    }
    squares = 0.0;
    for (float x : submission.delta.span()) {
      squares += static_cast<double>(x) * static_cast<double>(x);
    }
  }
  const double norm = std::sqrt(squares);
  if (!(norm <= max_l2_norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat("update rejected: its L2 norm ", norm,
                     " exceeds max_update_l2_norm ", max_l2_norm));
  }
  if (submission.num_examples == 0 || submission.num_examples > max_examples) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_examples must be in [1, ", max_examples, "], got ",
                     submission.num_examples));
  }
  // A loss (cross-entropy) is finite and never negative.
  if (!std::isfinite(submission.train_loss)) {
    return absl::InvalidArgumentError("reported train loss is not finite");
  }
  if (submission.train_loss < 0) {
    return absl::InvalidArgumentError("reported train loss is negative");
  }
  return absl::OkStatus();
}

absl::Status CheckDeclaredExamples(uint64_t num_examples, uint64_t declared) {
  if (num_examples > declared) {
    return absl::InvalidArgumentError(absl::StrCat(
        "update claims ", num_examples, " examples, the client registered ",
        declared, ": an update weighs at most its client's declared count"));
  }
  return absl::OkStatus();
}

PlainCollector::PlainCollector(const AttemptSetup& setup,
                               std::optional<double> dp_clip_norm)
    : UpdateCollector(setup),
      dp_clip_norm_(dp_clip_norm),
      aggregator_(setup.dimension) {}

absl::Status PlainCollector::SubmitUpdate(const std::string& client_id,
                                          UpdateSubmission submission,
                                          const absl::Status& content) {
  RETURN_IF_ERROR(AdmitUpdate(client_id, content));
  ASSIGN_OR_RETURN(std::optional<SiteEvalReport> report,
                   AdmitEvalReport(client_id, submission.eval_report));
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
  KeepEvalReport(client_id, std::move(report));
  cohort().Set(client_id, ClientRoundState::kAccepted);
  return absl::OkStatus();
}

absl::StatusOr<CollectionResult> PlainCollector::Close() {
  const int accepted = static_cast<int>(aggregator_.count());
  if (std::optional<AttemptFailure> failure = TooFewUpdates(accepted)) {
    return *std::move(failure);
  }
  RoundAggregate out = CountedAggregate(accepted);
  if (dp_clip_norm_.has_value()) {
    PrivateSum sum;
    sum.update_sum = aggregator_.TakeSum();
    sum.indicator_sum = dp_indicator_sum_;
    out.private_sum = std::move(sum);
    return out;
  }
  // The mean, divided in double: a float sum could overflow where the mean
  // does not.
  out.total_examples = aggregator_.total_weight();
  out.train_loss = loss_sum_ / aggregator_.total_weight();
  out.divisor = 1.0;
  ASSIGN_OR_RETURN(out.update_sum, aggregator_.TakeMean());
  return out;
}

}  // namespace fedlearn
