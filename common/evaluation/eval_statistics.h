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
// (`spread_exact`).
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
  double worst10_mean = 0;     // mean of the worst ceil(10%) of sites
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
// `group_names` has layout.num_groups names.
EvalStatistics SummarizeSum(const EvalLayout& layout,
                            const SiteEvalReport& sum,
                            const std::vector<std::string>& group_names);
// From every site's own report (exact spread); the other fields equal
// SummarizeSum of their sum.
EvalStatistics SummarizeSites(const EvalLayout& layout,
                              const std::vector<SiteEvalReport>& sites,
                              const std::vector<std::string>& group_names);
// One site's own metrics (for a per-site table).
EvalStatistics SummarizeSite(const EvalLayout& layout,
                             const SiteEvalReport& site,
                             const std::vector<std::string>& group_names);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_EVALUATION_EVAL_STATISTICS_H_
