#include "common/evaluation/eval_statistics.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

constexpr double kTol = 1e-12;

EvalLayout BinaryLayout(int score_bins, int groups = 0) {
  EvalLayout l;
  l.num_classes = 2;
  l.score_bins = score_bins;
  l.accuracy_bins = 10;
  l.loss_bins = 10;
  l.num_groups = groups;
  l.max_loss = 2.0;
  l.accuracy_threshold = 0.7;
  return l;
}

SiteEvalReport BinaryReport(const EvalLayout& l, const std::vector<int>& y,
                            const std::vector<double>& p) {
  SiteEvalBuilder b(l);
  for (size_t i = 0; i < y.size(); ++i) {
    EXPECT_TRUE(b.Add(y[i], 0, p[i], 0.5).ok());
  }
  return b.Finish();
}

// Scores all at bin centres (bins of 0.1), so the histogram's AUCs are the
// exact ones. Expected values (/usr/bin/python3, numpy 1.24):
//   import numpy as np
//   rng = np.random.default_rng(11); n = 60
//   centres = (np.arange(10) + 0.5) / 10
//   y = rng.integers(0, 2, n); y[:3] = [1, 0, 1]
//   s = np.where(y == 1,
//                rng.choice(centres, n, p=np.linspace(1, 3, 10) / 20),
//                rng.choice(centres, n, p=np.linspace(3, 1, 10) / 20))
//   pos, neg = s[y == 1], s[y == 0]   # Mann-Whitney, ties 1/2:
//   auc = ((pos[:, None] > neg[None, :]).sum()
//          + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos)*len(neg))
//   ap, prev_r = 0.0, 0.0             # scikit-learn's average precision
//   for t in np.unique(s)[::-1]:
//       pred = s >= t
//       tp = (pred & (y == 1)).sum(); fp = (pred & (y == 0)).sum()
//       r = tp / (y == 1).sum(); ap += (r - prev_r) * tp / (tp + fp)
//       prev_r = r
//   p = s >= 0.5                      # confusion matrix at 0.5
//   -> auc 0.6433607520564042, ap 0.717144619814853,
//      tp 17 fp 6 tn 17 fn 20, precision 0.7391304347826086,
//      recall 0.4594594594594595, f1 0.5666666666666667
TEST(EvalStatisticsTest, BinaryMetricsMatchAnIndependentComputation) {
  const std::vector<int> y = {1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1,
                              0, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0,
                              0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0,
                              1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0};
  const std::vector<double> s = {
      0.65, 0.75, 0.15, 0.45, 0.55, 0.25, 0.75, 0.85, 0.05, 0.45, 0.05, 0.35,
      0.45, 0.85, 0.95, 0.05, 0.45, 0.05, 0.25, 0.95, 0.55, 0.25, 0.05, 0.05,
      0.45, 0.75, 0.45, 0.05, 0.15, 0.15, 0.05, 0.85, 0.45, 0.25, 0.25, 0.35,
      0.15, 0.75, 0.95, 0.05, 0.85, 0.35, 0.05, 0.45, 0.95, 0.85, 0.65, 0.05,
      0.35, 0.55, 0.35, 0.95, 0.95, 0.65, 0.55, 0.45, 0.85, 0.05, 0.15, 0.15};
  const EvalLayout l = BinaryLayout(10);
  const EvalStatistics st = SummarizeSum(l, BinaryReport(l, y, s), {});
  ASSERT_TRUE(st.binary.has_value());
  EXPECT_NEAR(st.binary->roc_auc, 0.6433607520564042, kTol);
  EXPECT_NEAR(st.binary->pr_auc, 0.717144619814853, kTol);
  EXPECT_EQ(st.binary->true_positives, 17u);
  EXPECT_EQ(st.binary->false_positives, 6u);
  EXPECT_EQ(st.binary->true_negatives, 17u);
  EXPECT_EQ(st.binary->false_negatives, 20u);
  EXPECT_NEAR(st.binary->precision, 0.7391304347826086, kTol);
  EXPECT_NEAR(st.binary->recall, 0.4594594594594595, kTol);
  EXPECT_NEAR(st.binary->f1, 0.5666666666666667, kTol);
  EXPECT_NEAR(st.accuracy, 34.0 / 60, kTol);
  EXPECT_NEAR(st.loss, 0.5, kTol);
}

// Property: with every score at a bin centre, the histogram's ROC-AUC is
// the pairwise (Mann-Whitney) AUC and its PR-AUC the per-example average
// precision, both computed here by brute force over the examples.
TEST(EvalStatisticsTest, HistogramAucsEqualBruteForceAtBinCentres) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 40; ++trial) {
    const int bins = std::uniform_int_distribution<int>(1, 30)(rng);
    const int n = std::uniform_int_distribution<int>(2, 80)(rng);
    std::vector<int> y(n);
    std::vector<double> s(n);
    for (int i = 0; i < n; ++i) {
      y[i] = static_cast<int>(rng() % 2);
      s[i] = (static_cast<double>(rng() % bins) + 0.5) / bins;
    }
    double pairs = 0, wins = 0, positives = 0;
    for (int i = 0; i < n; ++i) {
      positives += y[i];
      for (int j = 0; j < n; ++j) {
        if (y[i] != 1 || y[j] != 0) continue;
        pairs += 1;
        wins += s[i] > s[j] ? 1 : (s[i] == s[j] ? 0.5 : 0);
      }
    }
    std::vector<double> thresholds = s;
    std::sort(thresholds.rbegin(), thresholds.rend());
    thresholds.erase(std::unique(thresholds.begin(), thresholds.end()),
                     thresholds.end());
    double ap = 0, prev_recall = 0;
    for (double t : thresholds) {
      double tp = 0, predicted = 0;
      for (int i = 0; i < n; ++i) {
        if (s[i] < t) continue;
        predicted += 1;
        tp += y[i];
      }
      const double recall = positives > 0 ? tp / positives : 0;
      ap += (recall - prev_recall) * tp / predicted;
      prev_recall = recall;
    }
    const EvalLayout l = BinaryLayout(bins);
    const EvalStatistics st = SummarizeSum(l, BinaryReport(l, y, s), {});
    if (pairs == 0) {
      EXPECT_TRUE(std::isnan(st.binary->roc_auc));
    } else {
      EXPECT_NEAR(st.binary->roc_auc, wins / pairs, 1e-12);
    }
    if (positives == 0) {
      EXPECT_TRUE(std::isnan(st.binary->pr_auc));
    } else {
      EXPECT_NEAR(st.binary->pr_auc, ap, 1e-12);
    }
  }
}

// scikit-learn's documented examples: roc_auc_score and
// average_precision_score of y = [0, 0, 1, 1], s = [0.1, 0.4, 0.35, 0.8]
// are 0.75 and 0.8333... (1/2 * 1 + 1/2 * 2/3).
TEST(EvalStatisticsTest, BinaryMetricsMatchScikitLearnsDocumentedExample) {
  const EvalLayout l = BinaryLayout(20);
  const EvalStatistics st =
      SummarizeSum(l, BinaryReport(l, {0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8}), {});
  EXPECT_NEAR(st.binary->roc_auc, 0.75, kTol);
  EXPECT_NEAR(st.binary->pr_auc, 5.0 / 6, kTol);
}

// Regression (eval_report_fuzzer's range check): F1's 2 x TP was computed in
// uint64 and wrapped once the summed TP reached 2^63 (sixteen sites of
// 2^60 - 1 examples each are within ValidateSiteReport's bounds), giving 0
// here or values above 1. TP = 2^63, FP = 2^62, FN = 0:
// F1 = 2^64 / (2^64 + 2^62) = 4/5 exactly.
TEST(EvalStatisticsTest, F1OfHugeSumsDoesNotWrap) {
  const EvalLayout l = BinaryLayout(1);
  SiteEvalReport sum = SiteEvalReport::Zero(l);
  sum.true_positives = uint64_t{1} << 63;
  sum.false_positives = uint64_t{1} << 62;
  sum.examples = sum.true_positives + sum.false_positives;
  sum.correct = sum.true_positives;
  sum.positive_score_bins = {sum.true_positives};
  sum.negative_score_bins = {sum.false_positives};
  const EvalStatistics s = SummarizeSum(l, sum, {});
  ASSERT_TRUE(s.binary.has_value());
  EXPECT_DOUBLE_EQ(s.binary->f1, 0.8);
  EXPECT_DOUBLE_EQ(s.binary->precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(s.binary->recall, 1.0);
}

// Coarse bins tie scores: the histogram AUC counts a tied pair as 1/2.
TEST(EvalStatisticsTest, TiedBinsCountHalf) {
  const EvalLayout l = BinaryLayout(2);
  const EvalStatistics st =
      SummarizeSum(l, BinaryReport(l, {0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8}), {});
  // Bins: neg {0, 0}, pos {0, 1}: pairs (0.8 > both) 2 + ties 2 * 1/2 = 3.
  EXPECT_NEAR(st.binary->roc_auc, 0.75, kTol);
  // Threshold bin 1: P = 1, R = 1/2; bin 0: P = 1/2, R = 1.
  EXPECT_NEAR(st.binary->pr_auc, 0.75, kTol);
}

TEST(EvalStatisticsTest, NoPositivesLeavesTheAucsUndefined) {
  const EvalLayout l = BinaryLayout(10);
  const EvalStatistics st =
      SummarizeSum(l, BinaryReport(l, {0, 0, 0}, {0.1, 0.6, 0.3}), {});
  EXPECT_TRUE(std::isnan(st.binary->roc_auc));
  EXPECT_TRUE(std::isnan(st.binary->pr_auc));
  EXPECT_TRUE(std::isnan(st.binary->recall));
  EXPECT_EQ(st.binary->precision, 0.0);  // one false positive
  EXPECT_EQ(st.binary->f1, 0.0);
  const EvalStatistics neg =
      SummarizeSum(l, BinaryReport(l, {1, 1}, {0.1, 0.6}), {});
  EXPECT_TRUE(std::isnan(neg.binary->roc_auc));  // no negatives
  EXPECT_NEAR(neg.binary->pr_auc, 1.0, kTol);
}

TEST(EvalStatisticsTest, ZeroSitesGiveUndefinedMetricsNotCrashes) {
  for (const EvalLayout& l : {BinaryLayout(10, 2), BinaryLayout(10, 0)}) {
    const EvalStatistics st =
        SummarizeSum(l, SiteEvalReport::Zero(l), {"a", "b"});
    EXPECT_EQ(st.sites, 0u);
    EXPECT_EQ(st.examples, 0u);
    EXPECT_TRUE(std::isnan(st.accuracy));
    EXPECT_TRUE(std::isnan(st.loss));
    EXPECT_TRUE(std::isnan(st.accuracy_spread.unweighted_mean));
    EXPECT_TRUE(std::isnan(st.accuracy_spread.p50));
    EXPECT_TRUE(std::isnan(st.loss_spread.min));
    EXPECT_TRUE(std::isnan(st.binary->precision));
    EXPECT_TRUE(std::isnan(st.binary->roc_auc));
    EXPECT_FALSE(st.accuracy_gap.has_value());
    EXPECT_EQ(st.groups.size(), static_cast<size_t>(l.num_groups));
    const EvalStatistics exact = SummarizeSites(l, {}, {});
    EXPECT_TRUE(std::isnan(exact.accuracy_spread.min));
    EXPECT_TRUE(exact.accuracy_spread.exact);
  }
}

// Twelve sites of a 3-class task; each example's loss is 0.1 if right,
// 1.5 if wrong. Expected values (/usr/bin/python3, numpy 1.24):
//   n = np.array([10,20,5,8,40,16,25,4,10,30,12,50])
//   c = np.array([9,15,2,8,30,9,20,1,7,27,7,45])
//   acc = c / n; loss = (0.1 * c + 1.5 * (n - c)) / n
//   def spread(v, highest=False):     # mean, std, min, worst10, p10/50/90
//       k = math.ceil(0.1 * len(v)); srt = np.sort(v)
//       w = srt[-k:] if highest else srt[:k]
//       return [np.mean(v), np.std(v), np.min(v), np.mean(w)]
//              + list(np.percentile(v, [10, 50, 90]))
//   mid_acc = (np.minimum(np.floor(acc * 10), 9) + 0.5) / 10
//   mid_loss = (np.minimum(np.floor(loss / 2 * 10), 9) + 0.5) * 2 / 10
//   u = np.round(acc * 1e6); u2 = np.round(acc * acc * 1e6)
//   m = u.sum() * 1e-6 / 12; sd = sqrt(u2.sum() * 1e-6 / 12 - m * m)
struct SpreadCase {
  std::vector<SiteEvalReport> sites;
  EvalLayout layout;
};

SpreadCase TwelveSites() {
  SpreadCase out;
  out.layout = BinaryLayout(10);
  out.layout.num_classes = 3;
  out.layout.score_bins = 0;
  const int n[] = {10, 20, 5, 8, 40, 16, 25, 4, 10, 30, 12, 50};
  const int c[] = {9, 15, 2, 8, 30, 9, 20, 1, 7, 27, 7, 45};
  for (int s = 0; s < 12; ++s) {
    SiteEvalBuilder b(out.layout);
    for (int i = 0; i < n[s]; ++i) {
      const bool right = i < c[s];
      EXPECT_TRUE(b.Add(1, right ? 1 : 2, 0, right ? 0.1 : 1.5).ok());
    }
    out.sites.push_back(b.Finish());
  }
  return out;
}

void ExpectSpread(const SpreadStatistics& s, const std::vector<double>& want,
                  double tol) {
  EXPECT_NEAR(s.unweighted_mean, want[0], tol);
  EXPECT_NEAR(s.stddev, want[1], tol);
  EXPECT_NEAR(s.min, want[2], tol);
  EXPECT_NEAR(s.worst10_mean, want[3], tol);
  EXPECT_NEAR(s.p10, want[4], tol);
  EXPECT_NEAR(s.p50, want[5], tol);
  EXPECT_NEAR(s.p90, want[6], tol);
}

TEST(EvalStatisticsTest, SpreadFromTheSumUsesFixedPointAndHistograms) {
  const SpreadCase c = TwelveSites();
  SiteEvalReport sum = SiteEvalReport::Zero(c.layout);
  for (const SiteEvalReport& s : c.sites) ASSERT_TRUE(sum.Add(s).ok());
  const EvalStatistics st = SummarizeSum(c.layout, sum, {});
  EXPECT_EQ(st.sites, 12u);
  EXPECT_NEAR(st.accuracy, 0.782608695652174, kTol);
  EXPECT_NEAR(st.loss, 0.4043478260869565, kTol);
  EXPECT_FALSE(st.binary.has_value());
  const SpreadStatistics& a = st.accuracy_spread;
  EXPECT_FALSE(a.exact);
  EXPECT_EQ(a.below_threshold, 4u);
  EXPECT_NEAR(a.weighted_mean, st.accuracy, kTol);
  EXPECT_NEAR(a.unweighted_mean, 0.7079860833333332, 1e-12);
  EXPECT_NEAR(a.stddev, 0.21394167228396588, 1e-9);
  // Histogram midpoints: min 0.25, worst10 0.35, p10 0.46, p50 0.75,
  // p90 0.95.
  EXPECT_NEAR(a.min, 0.25, kTol);
  EXPECT_NEAR(a.worst10_mean, 0.35, kTol);
  EXPECT_NEAR(a.p10, 0.46, kTol);
  EXPECT_NEAR(a.p50, 0.75, kTol);
  EXPECT_NEAR(a.p90, 0.95, kTol);
  ExpectSpread(st.loss_spread,
               {0.5166666666666667, 0.27638539919628335, 0.1, 1.0, 0.3, 0.5,
                0.8800000000000001},
               kTol);
  EXPECT_FALSE(st.loss_spread.exact);
}

// Three sites at 81.6% accuracy all fall in the [0.8, 0.9) bin, whose
// midpoint (0.85) lies above every one of them: the lowest site and the
// worst sites' mean are capped at the exact mean, never reported above it.
TEST(EvalStatisticsTest, HistogramMinimumNeverExceedsTheMean) {
  EvalLayout layout = BinaryLayout(10);
  layout.num_classes = 3;
  layout.score_bins = 0;
  SiteEvalReport sum = SiteEvalReport::Zero(layout);
  for (int s = 0; s < 3; ++s) {
    SiteEvalBuilder b(layout);
    for (int i = 0; i < 125; ++i) {
      ASSERT_TRUE(b.Add(1, i < 102 ? 1 : 2, 0, 0.5).ok());
    }
    ASSERT_TRUE(sum.Add(b.Finish()).ok());
  }
  const SpreadStatistics a = SummarizeSum(layout, sum, {}).accuracy_spread;
  EXPECT_NEAR(a.unweighted_mean, 0.816, 1e-12);
  EXPECT_NEAR(a.min, 0.816, 1e-12);
  EXPECT_NEAR(a.worst10_mean, 0.816, 1e-12);
  EXPECT_NEAR(a.p50, 0.85, kTol);  // quantiles stay at the bin's midpoint
}

TEST(EvalStatisticsTest, SpreadFromSitesIsExact) {
  const SpreadCase c = TwelveSites();
  const EvalStatistics st = SummarizeSites(c.layout, c.sites, {});
  EXPECT_TRUE(st.accuracy_spread.exact);
  EXPECT_EQ(st.accuracy_spread.below_threshold, 4u);
  ExpectSpread(
      st.accuracy_spread,
      {0.7079861111111111, 0.2139415857703069, 0.25, 0.325, 0.41625, 0.75, 0.9},
      kTol);
  ExpectSpread(st.loss_spread,
               {0.5088194444444444, 0.29951822007842965, 0.1, 1.045, 0.24, 0.45,
                0.9172500000000001},
               kTol);
  // The other fields are those of the sum.
  SiteEvalReport sum = SiteEvalReport::Zero(c.layout);
  for (const SiteEvalReport& s : c.sites) ASSERT_TRUE(sum.Add(s).ok());
  const EvalStatistics from_sum = SummarizeSum(c.layout, sum, {});
  EXPECT_EQ(st.examples, from_sum.examples);
  EXPECT_EQ(st.sites, from_sum.sites);
  EXPECT_EQ(st.accuracy, from_sum.accuracy);
  EXPECT_EQ(st.loss, from_sum.loss);
}

TEST(EvalStatisticsTest, OneSiteSpreadIsThatSite) {
  const SpreadCase c = TwelveSites();
  const EvalStatistics st = SummarizeSite(c.layout, c.sites[1], {});
  EXPECT_EQ(st.sites, 1u);
  EXPECT_NEAR(st.accuracy, 0.75, kTol);
  ExpectSpread(st.accuracy_spread, {0.75, 0, 0.75, 0.75, 0.75, 0.75, 0.75},
               kTol);
}

// Hand-computed: group a = {TP, FN, FP, TN}: accuracy 1/2, predicted
// positive 2/4, TPR 1/2; group b = {TP, TP, TN}: accuracy 1, predicted
// positive 2/3, TPR 1; group c empty; one example without a group.
TEST(EvalStatisticsTest, GroupGapsOverGroupsWithExamples) {
  const EvalLayout l = BinaryLayout(10, 3);
  SiteEvalBuilder b(l);
  ASSERT_TRUE(b.Add(1, 0, 0.9, 0.1, 0).ok());
  ASSERT_TRUE(b.Add(1, 0, 0.2, 0.1, 0).ok());
  ASSERT_TRUE(b.Add(0, 0, 0.7, 0.1, 0).ok());
  ASSERT_TRUE(b.Add(0, 0, 0.1, 0.1, 0).ok());
  ASSERT_TRUE(b.Add(1, 0, 0.8, 0.1, 1).ok());
  ASSERT_TRUE(b.Add(1, 0, 0.6, 0.1, 1).ok());
  ASSERT_TRUE(b.Add(0, 0, 0.3, 0.1, 1).ok());
  ASSERT_TRUE(b.Add(0, 0, 0.9, 0.1, -1).ok());
  const EvalStatistics st = SummarizeSum(l, b.Finish(), {"a", "b", "c"});
  ASSERT_EQ(st.groups.size(), 3u);
  EXPECT_EQ(st.groups[0].name, "a");
  EXPECT_EQ(st.groups[0].examples, 4u);
  EXPECT_NEAR(st.groups[0].accuracy, 0.5, kTol);
  EXPECT_NEAR(st.groups[0].positive_rate, 0.5, kTol);
  EXPECT_NEAR(st.groups[0].true_positive_rate, 0.5, kTol);
  EXPECT_NEAR(st.groups[1].accuracy, 1.0, kTol);
  EXPECT_NEAR(st.groups[1].positive_rate, 2.0 / 3, kTol);
  EXPECT_NEAR(st.groups[1].true_positive_rate, 1.0, kTol);
  EXPECT_EQ(st.groups[2].examples, 0u);
  EXPECT_TRUE(std::isnan(st.groups[2].accuracy));
  ASSERT_TRUE(st.accuracy_gap.has_value());
  EXPECT_NEAR(*st.accuracy_gap, 0.5, kTol);
  ASSERT_TRUE(st.demographic_parity_difference.has_value());
  EXPECT_NEAR(*st.demographic_parity_difference, 2.0 / 3 - 0.5, kTol);
  ASSERT_TRUE(st.equal_opportunity_difference.has_value());
  EXPECT_NEAR(*st.equal_opportunity_difference, 0.5, kTol);
  EXPECT_EQ(st.examples, 8u);
}

TEST(EvalStatisticsTest, OneGroupWithExamplesHasNoGap) {
  const EvalLayout l = BinaryLayout(10, 2);
  SiteEvalBuilder b(l);
  ASSERT_TRUE(b.Add(1, 0, 0.9, 0.1, 1).ok());
  const EvalStatistics st = SummarizeSum(l, b.Finish(), {"a", "b"});
  EXPECT_FALSE(st.accuracy_gap.has_value());
  EXPECT_FALSE(st.demographic_parity_difference.has_value());
  EXPECT_FALSE(st.equal_opportunity_difference.has_value());
}

}  // namespace
}  // namespace fedlearn
