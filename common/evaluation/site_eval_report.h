// What one site reports about a global model measured on its held-out
// evaluation split (federated evaluation), as whole numbers only, so that
// the sum over sites is exact: under secure aggregation the coordinator
// learns that sum and nothing else, and every metric it publishes
// (accuracy, loss, precision/recall/F1, ROC-AUC, PR-AUC, group gaps, the
// spread of site accuracy) is computed from the sum
// (common/evaluation/eval_statistics.h).
//
// Two kinds of fields:
//   - example-level counts: sums over the site's held-out examples;
//   - site-level fields: each site contributes exactly one "site", one
//     one-hot bin of its own accuracy and of its own mean loss, and its
//     accuracy (and its square) in fixed point. Summed over sites they give
//     the distribution of site accuracy (mean, standard deviation, quantiles
//     and worst-10% mean to the histogram's resolution) without any site's
//     value being known.
//
// The layout (which fields, how many bins) is fixed for the run by the
// contract's EvaluationSpec, so every site's vector has the same length and
// order; ToVector()/FromVector() convert to and from that flat order.
//
// Value types; thread-compatible. Torch-free: the client's evaluator feeds
// SiteEvalBuilder from the model's outputs.
#ifndef FEDLEARN_COMMON_EVALUATION_SITE_EVAL_REPORT_H_
#define FEDLEARN_COMMON_EVALUATION_SITE_EVAL_REPORT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

// Fixed-point units of the report's non-integer quantities.
inline constexpr double kEvalLossUnit = 1e-3;      // loss sums, per example
inline constexpr double kEvalFractionUnit = 1e-6;  // a site's accuracy

struct EvalLayout {
  int num_classes = 0;    // >= 2; binary metrics iff == 2
  int score_bins = 0;     // binary tasks: bins of P(class 1) over [0, 1]
  int accuracy_bins = 0;  // site-level histogram of accuracy over [0, 1]
  int loss_bins = 0;      // site-level histogram of mean loss, [0, max_loss]
  int num_groups = 0;     // values of the group column (0: none)
  double max_loss = 0;    // per-example loss is clipped here (> 0)
  double accuracy_threshold = 0;  // sites below it are counted

  // From the run's contract; InvalidArgument if it asks for no evaluation
  // or its EvaluationSpec is out of range (names the field). Checks only
  // what the layout uses: model.num_classes >= 2; score_bins in [1,
  // kMaxEvalBins] for binary tasks (ignored, and set to 0, otherwise);
  // accuracy_bins and loss_bins in [1, kMaxEvalBins]; max_loss finite in
  // (0, kMaxEvalLoss]; accuracy_threshold in [0, 1]; at most kMaxEvalGroups
  // groups. holdout_fraction and split_seed are the sites' business.
  static absl::StatusOr<EvalLayout> FromContract(const v1::RunContract& c);
  bool binary() const { return num_classes == 2; }
  // Number of values of ToVector().
  size_t length() const;
};

inline constexpr int kMaxEvalBins = 10000;
inline constexpr int kMaxEvalGroups = 1000;
inline constexpr double kMaxEvalLoss = 1e6;

struct SiteEvalReport {
  // Example-level.
  uint64_t examples = 0;
  uint64_t correct = 0;
  uint64_t loss_units = 0;  // round(Σ min(loss, max_loss) / kEvalLossUnit)
  // Binary tasks (num_classes == 2): the confusion matrix at P(1) >= 0.5,
  // and examples by score bin (bin = min(floor(P(1) * bins), bins - 1)) for
  // the positive (label 1) and negative examples. Empty/zero otherwise.
  uint64_t true_positives = 0, false_positives = 0;
  uint64_t true_negatives = 0, false_negatives = 0;
  std::vector<uint64_t> positive_score_bins, negative_score_bins;
  // Per group (num_groups each, group index = position in the spec; the
  // three binary-only vectors are empty in multi-class tasks).
  std::vector<uint64_t> group_examples, group_correct;
  std::vector<uint64_t> group_predicted_positive;               // binary tasks
  std::vector<uint64_t> group_positives, group_true_positives;  // binary
  // Site-level: 1 for one site (so the sum counts sites).
  uint64_t sites = 0;
  uint64_t sites_below_threshold = 0;
  uint64_t accuracy_units = 0;     // round(accuracy / kEvalFractionUnit)
  uint64_t accuracy_sq_units = 0;  // round(accuracy^2 / kEvalFractionUnit)
  std::vector<uint64_t> accuracy_histogram;  // accuracy_bins, one-hot
  std::vector<uint64_t> loss_histogram;      // loss_bins, one-hot

  // The flat order: the scalar fields in declaration order, then each
  // vector in declaration order. REQUIRES: vector sizes match `layout`.
  std::vector<uint64_t> ToVector(const EvalLayout& layout) const;
  // InvalidArgument on a length mismatch.
  static absl::StatusOr<SiteEvalReport> FromVector(
      const EvalLayout& layout, absl::Span<const uint64_t> values);
  // A report of `layout`'s shape with every field zero.
  static SiteEvalReport Zero(const EvalLayout& layout);
  // Element-wise sum; InvalidArgument on a shape mismatch, OutOfRange on
  // overflow (then *this is unchanged).
  absl::Status Add(const SiteEvalReport& other);
  bool operator==(const SiteEvalReport& other) const;
  bool operator!=(const SiteEvalReport& other) const {
    return !(*this == other);
  }
};

// The largest value each entry of one honest site's ToVector() can take
// when it evaluates at most `max_examples` examples, in ToVector() order:
// max_examples for example counts (examples, correct, confusion matrix,
// score bins, group counts); floor(max_examples * max_loss /
// kEvalLossUnit) + 1 for loss_units; 1 for sites, sites_below_threshold
// and the one-hot histogram bins; round(1 / kEvalFractionUnit) for
// accuracy_units and accuracy_sq_units. (EvalVectorCodec sizes its limbs
// from these.)
std::vector<uint64_t> SiteReportBounds(const EvalLayout& layout,
                                       uint64_t max_examples);

// Whether `report` is one honest site's report of `layout` evaluated on at
// most `max_examples` examples: vector sizes match the layout; sites is 1
// iff examples > 0 (a site without examples reports all zeros); each
// one-hot histogram sums to `sites`; counts are consistent (correct <=
// examples, the confusion matrix and score bins add up to examples,
// correct = TP + TN in binary tasks, group counts to at most examples,
// loss_units <= examples * max_loss / kEvalLossUnit + 1); the site-level
// accuracy fields (units within 1 of SiteEvalBuilder's, the accuracy bin,
// below-threshold) agree with correct / examples.
// InvalidArgument naming the first field that is not.
// REQUIRES: max_examples < 2^60.
absl::Status ValidateSiteReport(const EvalLayout& layout,
                                const SiteEvalReport& report,
                                uint64_t max_examples);

// Builds one site's report from its examples, one at a time.
class SiteEvalBuilder {
 public:
  explicit SiteEvalBuilder(const EvalLayout& layout);
  // `label`, `predicted` in [0, num_classes); `positive_probability` the
  // model's P(class 1) (binary tasks; ignored otherwise); `loss` the
  // example's cross-entropy (clipped to [0, max_loss]; NaN counts as
  // max_loss); `group` in [0, num_groups) or -1 (no group / unknown value).
  // Binary tasks: the prediction is P(1) >= 0.5 (the argmax, ties to class
  // 1), for accuracy, the confusion matrix and the group rates alike, so
  // correct = TP + TN; `predicted` is only range-checked. P(1) is clamped to
  // [0, 1]; NaN counts as 0 (a diverged model still gets a report).
  // InvalidArgument on an out-of-range label, prediction or group.
  absl::Status Add(int label, int predicted, double positive_probability,
                   double loss, int group = -1);
  // The report, with the site-level fields filled from its own accuracy
  // and mean loss (a site with no examples reports all zeros: it is not
  // counted as a site). Call once.
  SiteEvalReport Finish();

 private:
  EvalLayout layout_;
  SiteEvalReport report_;
  double loss_sum_ = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_EVALUATION_SITE_EVAL_REPORT_H_
