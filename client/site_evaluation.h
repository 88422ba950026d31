// The client's step of federated evaluation (the design in the contract's
// EvaluationSpec and the task's EvaluationTask): measure the task's model
// on the site's held-out split before training, and put the report where
// the round carries it.
//
// Guarantees: EvaluateForTask evaluates at most the task's max_examples
// examples with the site's LocalEvaluator; a site without a held-out split
// reports SiteEvalReport::Zero (it is not counted as a site). It refuses
// (FailedPrecondition) a task that asks for evaluation when the contract
// this site prepared for declares none, and one that is differentially
// private (a site's metrics would be released outside the privacy
// accountant; the coordinator refuses the combination at config load).
// AppendEvalReport appends exactly EvalVectorCodec::length() values to a
// secure round's masked input, after the update's encoding, with the codec
// sized from (layout, secagg modulus_bits, encoding max_clients, task
// max_examples) as the coordinator sizes it. Torch-free, transport-free;
// reentrant.
#ifndef FEDLEARN_CLIENT_SITE_EVALUATION_H_
#define FEDLEARN_CLIENT_SITE_EVALUATION_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "client/coordinator_transport.h"
#include "client/training/local_evaluator.h"
#include "common/evaluation/site_eval_report.h"

namespace fedlearn {

// REQUIRES: task.evaluation is set. `layout`: the prepared contract's (none
// if it declares no evaluation); `evaluator` may be null.
absl::StatusOr<SiteEvalReport> EvaluateForTask(
    const ReceivedTask& task, const std::optional<EvalLayout>& layout,
    LocalEvaluator* evaluator, const std::atomic<bool>& cancel);

// REQUIRES: task.secagg and task.evaluation are set.
absl::Status AppendEvalReport(const ReceivedTask& task,
                              const EvalLayout& layout,
                              const SiteEvalReport& report,
                              std::vector<uint32_t>* masked_input);

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SITE_EVALUATION_H_
