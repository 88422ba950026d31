// Plaintext collection of an evaluation-only attempt (the final evaluation,
// or the evaluation-only job): each selected client sends an all-zero
// update with its evaluation report, and only the report counts. The
// update's values, example count and loss are ignored (the model is left
// as it is, server/round/federated_evaluation.h); a missing or invalid
// report rejects the upload. The answering rules (one answer per client,
// deadline, min_updates reports) are UpdateCollector's.
//
// Thread-compatible (see round_collector.h).
#ifndef FEDLEARN_SERVER_ROUND_EVALUATION_ONLY_COLLECTOR_H_
#define FEDLEARN_SERVER_ROUND_EVALUATION_ONLY_COLLECTOR_H_

#include <string>

#include "absl/status/status.h"
#include "server/round/update_collector.h"

namespace fedlearn {

// The content check of an evaluation-only upload: only its size (the
// engine's CheckUpdateContent does not apply: no weight, no delta).
absl::Status CheckEvaluationOnlyContent(const UpdateSubmission& submission,
                                        size_t dimension);

class EvaluationOnlyCollector : public UpdateCollector {
 public:
  // REQUIRES: setup.evaluation is set and evaluate_only.
  explicit EvaluationOnlyCollector(const AttemptSetup& setup)
      : UpdateCollector(setup) {}

  absl::Status SubmitUpdate(const std::string& client_id,
                            UpdateSubmission submission,
                            const absl::Status& content) override;
  absl::StatusOr<CollectionResult> Close() override;

 private:
  int accepted_ = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_EVALUATION_ONLY_COLLECTOR_H_
