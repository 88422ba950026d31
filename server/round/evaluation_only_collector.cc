#include "server/round/evaluation_only_collector.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::Status CheckEvaluationOnlyContent(const UpdateSubmission& submission,
                                        size_t dimension) {
  if (submission.delta.size() != dimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("update has ", submission.delta.size(),
                     " values, the model has ", dimension));
  }
  return absl::OkStatus();
}

absl::Status EvaluationOnlyCollector::SubmitUpdate(
    const std::string& client_id, UpdateSubmission submission,
    const absl::Status& content) {
  RETURN_IF_ERROR(AdmitUpdate(client_id, content));
  ASSIGN_OR_RETURN(std::optional<SiteEvalReport> report,
                   AdmitEvalReport(client_id, submission.eval_report));
  KeepEvalReport(client_id, std::move(report));
  cohort().Set(client_id, ClientRoundState::kAccepted);
  ++accepted_;
  return absl::OkStatus();
}

absl::StatusOr<CollectionResult> EvaluationOnlyCollector::Close() {
  if (std::optional<AttemptFailure> failure = TooFewUpdates(accepted_)) {
    return *std::move(failure);
  }
  return CountedAggregate(accepted_);
}

}  // namespace fedlearn
