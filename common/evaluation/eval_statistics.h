// The metrics a federated evaluation round publishes, computed from the sum
// of the sites' reports (and, where the run allows per-site metrics, from
// each site's own report).
//
// From a sum (what a secure round reveals), exactly: example-weighted
// accuracy and loss, the binary confusion-matrix metrics (precision,
// recall, F1 at P(1) >= 0.5), the unweighted mean and standard deviation of
// site accuracy, the count of sites below the threshold, and per-group
// accuracy, predicted-positive rate and true-positive rate with the
// demographic-parity and equal-opportunity differences (largest minus
// smallest over groups that have examples). To the score histogram's
// resolution: ROC-AUC (trapezoids over the bin thresholds) and PR-AUC
// (average precision over the bin thresholds). To the site histograms'
// resolution (bin midpoints): site minimum, p10/p50/p90 and worst-10% mean
// of accuracy (and of mean loss). From per-site reports these are exact
// (`exact`).
//
// Conventions (NaN is written as null in JSON):
//   - accuracy and loss are NaN without examples; a spread's means,
//     stddev, min and quantiles are NaN without sites;
//   - quantiles interpolate linearly between closest ranks (numpy's
//     default); worst10_mean is the mean of the ceil(10%) lowest site
//     accuracies, or highest site mean losses;
//   - from a sum, the accuracy spread's unweighted mean and stddev come from
//     the fixed-point accuracy_units / accuracy_sq_units (exact to 1e-6);
//     the loss spread's from the loss histogram's midpoints (no per-site
//     loss travels in fixed point); min/quantiles/worst10 from midpoints;
//   - precision = TP / (TP + FP), NaN with no predicted positive; recall =
//     TP / (TP + FN), NaN with no positive; F1 = 2TP / (2TP + FP + FN), NaN
//     with neither; ROC-AUC is NaN without a positive or without a
//     negative; PR-AUC (scikit-learn's average_precision_score over the
//     bins as thresholds) is NaN without a positive;
//   - a group's accuracy is NaN without examples, its rates NaN outside
//     binary tasks (and true_positive_rate without positives); the
//     demographic-parity difference runs over groups with examples, the
//     equal-opportunity difference over groups with positives.
//
// Pure functions; thread-safe.
#ifndef FEDLEARN_COMMON_EVALUATION_EVAL_STATISTICS_H_
#define FEDLEARN_COMMON_EVALUATION_EVAL_STATISTICS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/evaluation/site_eval_report.h"

namespace fedlearn {

struct SpreadStatistics {
  double weighted_mean = 0;    // example-weighted
  double unweighted_mean = 0;  // mean over sites
  double stddev = 0;           // population standard deviation over sites
  double min = 0;
  double worst10_mean = 0;  // mean of the worst ceil(10%) of sites
  double p10 = 0, p50 = 0, p90 = 0;
  uint64_t below_threshold = 0;  // accuracy only
  bool exact = false;  // false: quantiles/min/worst10 from a histogram
};

struct BinaryStatistics {
  double precision = 0, recall = 0, f1 = 0;
  double roc_auc = 0, pr_auc = 0;
  uint64_t true_positives = 0, false_positives = 0;
  uint64_t true_negatives = 0, false_negatives = 0;
};

struct GroupStatistics {
  std::string name;
  uint64_t examples = 0;
  double accuracy = 0;
  double positive_rate = 0;       // binary: share predicted positive
  double true_positive_rate = 0;  // binary: recall within the group
};

struct EvalStatistics {
  uint64_t examples = 0;
  uint64_t sites = 0;
  double accuracy = 0;  // example-weighted
  double loss = 0;      // example-weighted mean (clipped per example)
  SpreadStatistics accuracy_spread;
  SpreadStatistics loss_spread;
  std::optional<BinaryStatistics> binary;
  std::vector<GroupStatistics> groups;
  // Over groups with examples; nullopt with fewer than two such groups.
  std::optional<double> accuracy_gap;
  std::optional<double> demographic_parity_difference;  // binary
  std::optional<double> equal_opportunity_difference;   // binary
};

// From the sum of the sites' reports (quantiles from the histograms).
// `group_names` has layout.num_groups names (missing ones are "").
// REQUIRES: `sum` has `layout`'s shape (as ValidateSiteReport or
// EvalVectorCodec::DecodeSum ensure); a mismatched one gives NaNs, never
// undefined behaviour.
EvalStatistics SummarizeSum(const EvalLayout& layout, const SiteEvalReport& sum,
                            const std::vector<std::string>& group_names);
// From every site's own report (exact spread; sites with no examples are
// left out); the other fields equal SummarizeSum of their sum.
// REQUIRES: each report passed ValidateSiteReport for `layout`.
EvalStatistics SummarizeSites(const EvalLayout& layout,
                              const std::vector<SiteEvalReport>& sites,
                              const std::vector<std::string>& group_names);
// One site's own metrics (for a per-site table).
EvalStatistics SummarizeSite(const EvalLayout& layout,
                             const SiteEvalReport& site,
                             const std::vector<std::string>& group_names);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_EVALUATION_EVAL_STATISTICS_H_
