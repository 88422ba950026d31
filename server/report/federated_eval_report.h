// Federated evaluation in the run report: the evaluations a run recorded
// (issue 11), from the two places the coordinator writes them:
//   * metrics.jsonl: a training round r that evaluated the model it started
//     from (version r - 1) carries "federated_eval": {"model_version",
//     "secure", <EvalStatisticsToJson>, "per_site": [...] (per_site runs)};
//   * evaluation.jsonl: one line per evaluation-only round (the final model,
//     or `fedlearn-coordinator --evaluate-model`): {"round", "model_version",
//     "kind": "evaluation", "secure", "federated_eval": {...}}.
// The statistics' fields are those of common/evaluation/eval_statistics_json.h.
//
// ParseEvaluationJsonl is strict like ParseMetricsJsonl (DataLoss naming the
// file and line: not a JSON object, no integer "round" >= 1, no
// "federated_eval" object, a "run_id" other than `run_id`, or than the
// first line's when `run_id` is "" (an evaluation-only job's directory has
// no checkpoint to name the run)), tolerates a torn last line (a warning),
// and keeps every line in file order (an evaluation job may evaluate older
// models after a run's last round).
// Everything else reads defensively: a value of an unexpected type is
// absent (NaN, "n/a"), never an error, so a newer coordinator's extra or
// changed fields cannot break a report.
// Thread-safety: pure functions.
#ifndef FEDLEARN_SERVER_REPORT_FEDERATED_EVAL_REPORT_H_
#define FEDLEARN_SERVER_REPORT_FEDERATED_EVAL_REPORT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/report/run_report.h"
#include "server/report/svg_chart.h"

namespace fedlearn {

// The records of evaluation.jsonl `text` (see the contract above).
absl::StatusOr<std::vector<RoundRecord>> ParseEvaluationJsonl(
    std::string_view text, const std::string& origin, const std::string& run_id,
    std::vector<std::string>* warnings);

// One recorded evaluation.
struct FederatedEvaluation {
  uint64_t round = 0;            // the round that ran it
  int64_t model_version = -1;    // the model evaluated; -1 unknown
  bool evaluation_only = false;  // from evaluation.jsonl
  bool secure = false;
  const nlohmann::json* stats = nullptr;  // the "federated_eval" object
};

// Every evaluation of `report`, ordered by round (training rounds before an
// evaluation-only round of the same number; file order otherwise).
// The pointers point into `report`.
std::vector<FederatedEvaluation> FederatedEvaluations(const RunReport& report);

// A report whose rounds are the records holding an evaluation, ascending by
// round (an evaluation-only record whose round is not after the previous
// one is left out): AddRoundChart over it plots "/federated_eval/..." per
// round, the final evaluation included.
RunReport EvaluationChartView(const RunReport& report);

// The federated-evaluation charts, appended to `charts`: accuracy across
// sites (weighted mean, p10, min; the configured accuracy_threshold as a
// reference line) and, for binary tasks, PR-AUC and ROC-AUC with the last
// evaluation's positive rate (PR-AUC's chance level) as a reference line.
// Nothing when the run recorded no evaluation.
void AddFederatedEvalCharts(const RunReport& report,
                            std::vector<Chart>* charts);

// The number at JSON pointer `pointer` of `j`, NaN if absent or not a number.
double JsonNumber(const nlohmann::json& j, const char* pointer);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_REPORT_FEDERATED_EVAL_REPORT_H_
