#include "client/site_evaluation.h"

#include "absl/strings/str_cat.h"
#include "common/evaluation/eval_vector_codec.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::StatusOr<SiteEvalReport> EvaluateForTask(
    const ReceivedTask& task, const std::optional<EvalLayout>& layout,
    LocalEvaluator* evaluator, const std::atomic<bool>& cancel) {
  if (!layout.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round ", task.round,
        " asks for federated evaluation but the run's contract this site "
        "prepared for declares none"));
  }
  if (task.dp) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round ", task.round,
        " asks for federated evaluation in a differentially private round; "
        "this site's metrics would be released outside the privacy "
        "accountant, so it does not evaluate"));
  }
  if (evaluator == nullptr) return SiteEvalReport::Zero(*layout);
  return evaluator->Evaluate(task.model.values, *layout,
                             task.evaluation->max_examples(), cancel);
}

absl::Status AppendEvalReport(const ReceivedTask& task,
                              const EvalLayout& layout,
                              const SiteEvalReport& report,
                              std::vector<uint32_t>* masked_input) {
  ASSIGN_OR_RETURN(EvalVectorCodec codec,
                   EvalVectorCodec::Create(
                       layout, static_cast<int>(task.secagg->modulus_bits()),
                       static_cast<int>(task.encoding.max_clients()),
                       task.evaluation->max_examples()));
  ASSIGN_OR_RETURN(std::vector<uint32_t> encoded, codec.Encode(report));
  masked_input->insert(masked_input->end(), encoded.begin(), encoded.end());
  return absl::OkStatus();
}

}  // namespace fedlearn
