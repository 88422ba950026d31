// The JSON form of federated-evaluation statistics, as metrics.jsonl,
// evaluation.jsonl and fedlearn-report use it. Field names are part of the
// file format (docs/operations.md): add, never rename.
//
//   {"sites": 10, "examples": 1234, "accuracy": 0.81, "loss": 0.52,
//    "accuracy_spread": {"weighted_mean", "unweighted_mean", "stddev",
//        "min", "worst10_mean", "p10", "p50", "p90", "below_threshold",
//        "exact"},
//    "loss_spread": {... the same, without below_threshold ...},
//    "binary": {"precision", "recall", "f1", "roc_auc", "pr_auc",
//               "tp", "fp", "tn", "fn"},                 (binary tasks)
//    "groups": [{"name", "examples", "accuracy", "positive_rate",
//                "true_positive_rate"}, ...],            (with groups;
//                                    the two rates in binary tasks only)
//    "accuracy_gap", "demographic_parity_difference",
//    "equal_opportunity_difference"}                     (when defined)
//
// Non-finite numbers (undefined metrics, eval_statistics.h) are written as
// null. Keys come out sorted (nlohmann::json objects); counts are
// integers. Group names are written as given (the coordinator's own
// config, not client input). Pure functions; thread-safe.
#ifndef FEDLEARN_COMMON_EVALUATION_EVAL_STATISTICS_JSON_H_
#define FEDLEARN_COMMON_EVALUATION_EVAL_STATISTICS_JSON_H_

#include "common/evaluation/eval_statistics.h"
#include "nlohmann/json.hpp"

namespace fedlearn {

nlohmann::json EvalStatisticsToJson(const EvalStatistics& stats);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_EVALUATION_EVAL_STATISTICS_JSON_H_
