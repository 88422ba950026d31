#include "common/evaluation/eval_statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace fedlearn {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double Ratio(uint64_t num, uint64_t den) {
  return den == 0 ? kNaN : static_cast<double>(num) / static_cast<double>(den);
}

// Site values with multiplicities, ascending: a histogram's bin midpoints
// with their counts, or exact per-site values with count 1.
class SortedValues {
 public:
  void Add(double value, uint64_t count) {
    if (count == 0) return;
    values_.emplace_back(value, count);
    total_ += count;
  }
  void Sort() { std::sort(values_.begin(), values_.end()); }
  uint64_t total() const { return total_; }

  // The value of 0-based rank k < total().
  double AtRank(uint64_t k) const {
    for (const auto& [value, count] : values_) {
      if (k < count) return value;
      k -= count;
    }
    return kNaN;
  }
  // Linear interpolation between closest ranks (numpy.percentile's default
  // "linear" method).
  double Quantile(double p) const {
    if (total_ == 0) return kNaN;
    const double h = static_cast<double>(total_ - 1) * p;
    const uint64_t lo = static_cast<uint64_t>(std::floor(h));
    const double v = AtRank(lo);
    if (lo + 1 >= total_) return v;
    return v + (h - static_cast<double>(lo)) * (AtRank(lo + 1) - v);
  }
  // Mean of the ceil(10%) lowest (or highest) values.
  double Worst10Mean(bool highest) const {
    if (total_ == 0) return kNaN;
    uint64_t k = (total_ + 9) / 10;
    const uint64_t n = k;
    double sum = 0;
    auto take = [&](const std::pair<double, uint64_t>& vc) {
      const uint64_t c = std::min(k, vc.second);
      sum += vc.first * static_cast<double>(c);
      k -= c;
    };
    if (highest) {
      for (auto it = values_.rbegin(); it != values_.rend() && k > 0; ++it) {
        take(*it);
      }
    } else {
      for (auto it = values_.begin(); it != values_.end() && k > 0; ++it) {
        take(*it);
      }
    }
    return sum / static_cast<double>(n);
  }
  double Mean() const {
    double sum = 0;
    for (const auto& [value, count] : values_) {
      sum += value * static_cast<double>(count);
    }
    return total_ == 0 ? kNaN : sum / static_cast<double>(total_);
  }
  double Stddev() const {
    if (total_ == 0) return kNaN;
    const double mean = Mean();
    double sq = 0;
    for (const auto& [value, count] : values_) {
      sq += (value - mean) * (value - mean) * static_cast<double>(count);
    }
    return std::sqrt(sq / static_cast<double>(total_));
  }

 private:
  std::vector<std::pair<double, uint64_t>> values_;
  uint64_t total_ = 0;
};

SortedValues FromHistogram(const std::vector<uint64_t>& histogram,
                           double range) {
  SortedValues out;
  const double width = range / static_cast<double>(histogram.size());
  for (size_t i = 0; i < histogram.size(); ++i) {
    out.Add((static_cast<double>(i) + 0.5) * width, histogram[i]);
  }
  out.Sort();
  return out;
}

// min, quantiles and worst-10% mean of `values`.
void FillOrderStatistics(const SortedValues& values, bool worst_is_highest,
                         SpreadStatistics& s) {
  s.min = values.total() == 0 ? kNaN : values.AtRank(0);
  s.p10 = values.Quantile(0.1);
  s.p50 = values.Quantile(0.5);
  s.p90 = values.Quantile(0.9);
  s.worst10_mean = values.Worst10Mean(worst_is_highest);
}

SpreadStatistics AccuracySpreadFromSum(const SiteEvalReport& sum,
                                       double weighted) {
  SpreadStatistics s;
  s.weighted_mean = weighted;
  s.below_threshold = sum.sites_below_threshold;
  s.exact = false;
  if (sum.sites == 0) {
    s.unweighted_mean = s.stddev = kNaN;
  } else {
    const double n = static_cast<double>(sum.sites);
    s.unweighted_mean =
        static_cast<double>(sum.accuracy_units) * kEvalFractionUnit / n;
    const double mean_sq =
        static_cast<double>(sum.accuracy_sq_units) * kEvalFractionUnit / n;
    s.stddev = std::sqrt(
        std::max(0.0, mean_sq - s.unweighted_mean * s.unweighted_mean));
  }
  FillOrderStatistics(FromHistogram(sum.accuracy_histogram, 1.0), false, s);
  // A bin midpoint can lie above every site in the bin: the lowest site and
  // the worst sites' mean never exceed the (exact) mean over sites.
  if (sum.sites > 0) {
    s.min = std::min(s.min, s.unweighted_mean);
    s.worst10_mean = std::min(s.worst10_mean, s.unweighted_mean);
  }
  return s;
}

SpreadStatistics LossSpreadFromSum(const EvalLayout& layout,
                                   const SiteEvalReport& sum, double weighted) {
  const SortedValues values =
      FromHistogram(sum.loss_histogram, layout.max_loss);
  SpreadStatistics s;
  s.weighted_mean = weighted;
  s.exact = false;
  // No per-site fixed-point loss travels: mean and spread to the
  // histogram's resolution.
  s.unweighted_mean = values.Mean();
  s.stddev = values.Stddev();
  FillOrderStatistics(values, true, s);
  return s;
}

SpreadStatistics ExactSpread(SortedValues values, double weighted,
                             bool worst_is_highest) {
  values.Sort();
  SpreadStatistics s;
  s.weighted_mean = weighted;
  s.exact = true;
  s.unweighted_mean = values.Mean();
  s.stddev = values.Stddev();
  FillOrderStatistics(values, worst_is_highest, s);
  return s;
}

// Trapezoids over the ROC points at each bin threshold (predicted positive
// iff bin >= t), from the top bin down: the Mann-Whitney statistic with
// ties within a bin counted as one half.
double RocAuc(const std::vector<uint64_t>& pos,
              const std::vector<uint64_t>& neg) {
  double p = 0, n = 0;
  for (size_t i = 0; i < pos.size(); ++i) {
    p += static_cast<double>(pos[i]);
    n += static_cast<double>(neg[i]);
  }
  if (p == 0 || n == 0) return kNaN;
  double tp = 0, fp = 0, area = 0;
  for (size_t i = pos.size(); i-- > 0;) {
    const double tp_next = tp + static_cast<double>(pos[i]);
    const double fp_next = fp + static_cast<double>(neg[i]);
    area += (fp_next - fp) * (tp_next + tp) / 2;
    tp = tp_next;
    fp = fp_next;
  }
  return area / (p * n);
}

// Average precision (scikit-learn's average_precision_score): Σ over the
// thresholds, from the top bin down, of (R_n - R_(n-1)) * P_n.
double AveragePrecision(const std::vector<uint64_t>& pos,
                        const std::vector<uint64_t>& neg) {
  double p = 0;
  for (uint64_t x : pos) p += static_cast<double>(x);
  if (p == 0) return kNaN;
  double tp = 0, fp = 0, ap = 0;
  for (size_t i = pos.size(); i-- > 0;) {
    if (pos[i] == 0 && neg[i] == 0) continue;
    tp += static_cast<double>(pos[i]);
    fp += static_cast<double>(neg[i]);
    ap += static_cast<double>(pos[i]) / p * (tp / (tp + fp));
  }
  return ap;
}

BinaryStatistics Binary(const SiteEvalReport& sum) {
  BinaryStatistics b;
  b.true_positives = sum.true_positives;
  b.false_positives = sum.false_positives;
  b.true_negatives = sum.true_negatives;
  b.false_negatives = sum.false_negatives;
  b.precision = Ratio(b.true_positives, b.true_positives + b.false_positives);
  b.recall = Ratio(b.true_positives, b.true_positives + b.false_negatives);
  // In double: 2 x TP wraps in 64 bits for sums of 2^63 or more.
  const double tp = static_cast<double>(b.true_positives);
  const double f1_den = 2 * tp + static_cast<double>(b.false_positives) +
                        static_cast<double>(b.false_negatives);
  b.f1 = f1_den == 0 ? kNaN : 2 * tp / f1_den;
  if (sum.positive_score_bins.size() == sum.negative_score_bins.size()) {
    b.roc_auc = RocAuc(sum.positive_score_bins, sum.negative_score_bins);
    b.pr_auc =
        AveragePrecision(sum.positive_score_bins, sum.negative_score_bins);
  } else {
    b.roc_auc = b.pr_auc = kNaN;
  }
  return b;
}

// Largest minus smallest of the values whose `use` is true; nullopt with
// fewer than two.
std::optional<double> Gap(const std::vector<double>& values,
                          const std::vector<bool>& use) {
  std::optional<double> lo, hi;
  int n = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!use[i]) continue;
    ++n;
    lo = lo ? std::min(*lo, values[i]) : values[i];
    hi = hi ? std::max(*hi, values[i]) : values[i];
  }
  if (n < 2) return std::nullopt;
  return *hi - *lo;
}

void FillGroups(const EvalLayout& layout, const SiteEvalReport& sum,
                const std::vector<std::string>& names, EvalStatistics& out) {
  const size_t groups = sum.group_examples.size();
  const bool binary = layout.binary() &&
                      sum.group_predicted_positive.size() == groups &&
                      sum.group_positives.size() == groups &&
                      sum.group_true_positives.size() == groups &&
                      sum.group_correct.size() == groups;
  std::vector<double> acc, rate, tpr;
  std::vector<bool> has_examples, has_positives;
  for (size_t g = 0; g < groups; ++g) {
    GroupStatistics s;
    s.name = g < names.size() ? names[g] : "";
    s.examples = sum.group_examples[g];
    s.accuracy = g < sum.group_correct.size()
                     ? Ratio(sum.group_correct[g], s.examples)
                     : kNaN;
    s.positive_rate =
        binary ? Ratio(sum.group_predicted_positive[g], s.examples) : kNaN;
    s.true_positive_rate =
        binary ? Ratio(sum.group_true_positives[g], sum.group_positives[g])
               : kNaN;
    acc.push_back(s.accuracy);
    rate.push_back(s.positive_rate);
    tpr.push_back(s.true_positive_rate);
    has_examples.push_back(s.examples > 0 && std::isfinite(s.accuracy));
    has_positives.push_back(binary && sum.group_positives[g] > 0);
    out.groups.push_back(std::move(s));
  }
  out.accuracy_gap = Gap(acc, has_examples);
  if (binary) {
    out.demographic_parity_difference = Gap(rate, has_examples);
    out.equal_opportunity_difference = Gap(tpr, has_positives);
  }
}

SiteEvalReport SumOf(const EvalLayout& layout,
                     const std::vector<SiteEvalReport>& sites) {
  SiteEvalReport sum = SiteEvalReport::Zero(layout);
  for (const SiteEvalReport& s : sites) {
    // REQUIRES (header): validated reports of `layout`; a mismatched or
    // overflowing one is skipped rather than crash the summary.
    (void)sum.Add(s);
  }
  return sum;
}

}  // namespace

EvalStatistics SummarizeSum(const EvalLayout& layout, const SiteEvalReport& sum,
                            const std::vector<std::string>& group_names) {
  EvalStatistics out;
  out.examples = sum.examples;
  out.sites = sum.sites;
  out.accuracy = Ratio(sum.correct, sum.examples);
  out.loss = sum.examples == 0
                 ? kNaN
                 : static_cast<double>(sum.loss_units) * kEvalLossUnit /
                       static_cast<double>(sum.examples);
  out.accuracy_spread = AccuracySpreadFromSum(sum, out.accuracy);
  out.loss_spread = LossSpreadFromSum(layout, sum, out.loss);
  if (layout.binary()) out.binary = Binary(sum);
  FillGroups(layout, sum, group_names, out);
  return out;
}

EvalStatistics SummarizeSites(const EvalLayout& layout,
                              const std::vector<SiteEvalReport>& sites,
                              const std::vector<std::string>& group_names) {
  EvalStatistics out = SummarizeSum(layout, SumOf(layout, sites), group_names);
  SortedValues accuracy, loss;
  for (const SiteEvalReport& s : sites) {
    if (s.sites == 0 || s.examples == 0) continue;
    accuracy.Add(Ratio(s.correct, s.examples), 1);
    loss.Add(static_cast<double>(s.loss_units) * kEvalLossUnit /
                 static_cast<double>(s.examples),
             1);
  }
  const uint64_t below = out.accuracy_spread.below_threshold;
  out.accuracy_spread = ExactSpread(std::move(accuracy), out.accuracy, false);
  out.accuracy_spread.below_threshold = below;
  out.loss_spread = ExactSpread(std::move(loss), out.loss, true);
  return out;
}

EvalStatistics SummarizeSite(const EvalLayout& layout,
                             const SiteEvalReport& site,
                             const std::vector<std::string>& group_names) {
  return SummarizeSites(layout, {site}, group_names);
}

}  // namespace fedlearn
