#include "common/evaluation/site_eval_report.h"

#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

EvalLayout BinaryLayout(int groups = 2) {
  EvalLayout l;
  l.num_classes = 2;
  l.score_bins = 10;
  l.accuracy_bins = 5;
  l.loss_bins = 4;
  l.num_groups = groups;
  l.max_loss = 2.0;
  l.accuracy_threshold = 0.7;
  return l;
}

EvalLayout MulticlassLayout() {
  EvalLayout l = BinaryLayout(1);
  l.num_classes = 3;
  l.score_bins = 0;
  return l;
}

v1::RunContract Contract(int classes) {
  v1::RunContract c;
  c.mutable_model()->set_num_classes(classes);
  v1::EvaluationSpec* e = c.mutable_evaluation();
  e->set_score_bins(100);
  e->set_accuracy_bins(20);
  e->set_loss_bins(10);
  e->set_max_loss(20);
  e->set_accuracy_threshold(0.5);
  e->add_groups("f");
  e->add_groups("m");
  return c;
}

TEST(EvalLayoutTest, FromContractReadsTheSpecAndCountsValues) {
  absl::StatusOr<EvalLayout> l = EvalLayout::FromContract(Contract(2));
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_TRUE(l->binary());
  EXPECT_EQ(l->score_bins, 100);
  EXPECT_EQ(l->num_groups, 2);
  // 11 scalars + 2*100 score bins + 2*2 group + 3*2 binary group + 20 + 10.
  EXPECT_EQ(l->length(), 11u + 200 + 4 + 6 + 20 + 10);
  absl::StatusOr<EvalLayout> m = EvalLayout::FromContract(Contract(10));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->score_bins, 0);  // multi-class: no score histogram
  EXPECT_EQ(m->length(), 11u + 4 + 20 + 10);
}

TEST(EvalLayoutTest, FromContractRefusesNamingTheField) {
  v1::RunContract none = Contract(2);
  none.clear_evaluation();
  EXPECT_FALSE(EvalLayout::FromContract(none).ok());
  EXPECT_FALSE(EvalLayout::FromContract(Contract(1)).ok());
  v1::RunContract c = Contract(2);
  c.mutable_evaluation()->set_score_bins(0);
  EXPECT_NE(EvalLayout::FromContract(c).status().message().find("score_bins"),
            std::string::npos);
  c = Contract(2);
  c.mutable_evaluation()->set_max_loss(0);
  EXPECT_NE(EvalLayout::FromContract(c).status().message().find("max_loss"),
            std::string::npos);
  c = Contract(2);
  c.mutable_evaluation()->set_accuracy_threshold(1.5);
  EXPECT_NE(
      EvalLayout::FromContract(c).status().message().find("accuracy_threshold"),
      std::string::npos);
  c = Contract(2);
  c.mutable_evaluation()->set_loss_bins(kMaxEvalBins + 1);
  EXPECT_NE(EvalLayout::FromContract(c).status().message().find("loss_bins"),
            std::string::npos);
}

TEST(SiteEvalBuilderTest, BinaryReportKnownAnswer) {
  const EvalLayout l = BinaryLayout();
  SiteEvalBuilder b(l);
  // label, predicted (ignored in binary), P(1), loss, group
  ASSERT_TRUE(b.Add(1, 0, 0.95, 0.05, 0).ok());   // TP, bin 9
  ASSERT_TRUE(b.Add(1, 1, 0.30, 1.20, 1).ok());   // FN, bin 3
  ASSERT_TRUE(b.Add(0, 0, 0.50, 0.69, 1).ok());   // FP (p >= 0.5), bin 5
  ASSERT_TRUE(b.Add(0, 0, 0.00, 5.00, -1).ok());  // TN, bin 0, loss clipped 2
  ASSERT_TRUE(b.Add(0, 1, 1.00, NAN, 0).ok());    // FP, bin 9, loss NaN -> 2
  const SiteEvalReport r = b.Finish();
  EXPECT_EQ(r.examples, 5u);
  EXPECT_EQ(r.correct, 2u);
  // 0.05 + 1.2 + 0.69 + 2 + 2 = 5.94
  EXPECT_EQ(r.loss_units, 5940u);
  EXPECT_EQ(r.true_positives, 1u);
  EXPECT_EQ(r.false_negatives, 1u);
  EXPECT_EQ(r.false_positives, 2u);
  EXPECT_EQ(r.true_negatives, 1u);
  EXPECT_EQ(r.positive_score_bins,
            (std::vector<uint64_t>{0, 0, 0, 1, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(r.negative_score_bins,
            (std::vector<uint64_t>{1, 0, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(r.group_examples, (std::vector<uint64_t>{2, 2}));
  EXPECT_EQ(r.group_correct, (std::vector<uint64_t>{1, 0}));
  EXPECT_EQ(r.group_predicted_positive, (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(r.group_positives, (std::vector<uint64_t>{1, 1}));
  EXPECT_EQ(r.group_true_positives, (std::vector<uint64_t>{1, 0}));
  EXPECT_EQ(r.sites, 1u);
  EXPECT_EQ(r.sites_below_threshold, 1u);  // 0.4 < 0.7
  EXPECT_EQ(r.accuracy_units, 400000u);
  EXPECT_EQ(r.accuracy_sq_units, 160000u);
  EXPECT_EQ(r.accuracy_histogram, (std::vector<uint64_t>{0, 0, 1, 0, 0}));
  // mean loss 1.188 of max 2 over 4 bins: bin floor(2.376) = 2.
  EXPECT_EQ(r.loss_histogram, (std::vector<uint64_t>{0, 0, 1, 0}));
  EXPECT_TRUE(ValidateSiteReport(l, r, 5).ok()) << ValidateSiteReport(l, r, 5);
  EXPECT_FALSE(ValidateSiteReport(l, r, 4).ok());  // above max_examples
}

TEST(SiteEvalBuilderTest, PerfectSiteLandsInTheTopBins) {
  const EvalLayout l = MulticlassLayout();
  SiteEvalBuilder b(l);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.Add(i, i, 0, 10.0, 0).ok());
  const SiteEvalReport r = b.Finish();
  EXPECT_EQ(r.correct, 3u);
  EXPECT_EQ(r.accuracy_units, 1000000u);
  EXPECT_EQ(r.accuracy_sq_units, 1000000u);
  EXPECT_EQ(r.accuracy_histogram.back(), 1u);  // accuracy 1 -> last bin
  EXPECT_EQ(r.loss_histogram.back(), 1u);      // mean loss = max_loss
  EXPECT_EQ(r.sites_below_threshold, 0u);
  EXPECT_EQ(r.true_positives + r.false_positives, 0u);
  EXPECT_TRUE(r.positive_score_bins.empty());
  EXPECT_TRUE(ValidateSiteReport(l, r, 100).ok());
}

TEST(SiteEvalBuilderTest, NoExamplesIsTheZeroReport) {
  const EvalLayout l = BinaryLayout();
  SiteEvalBuilder b(l);
  EXPECT_EQ(b.Finish(), SiteEvalReport::Zero(l));
  EXPECT_TRUE(ValidateSiteReport(l, SiteEvalReport::Zero(l), 10).ok());
}

TEST(SiteEvalBuilderTest, RefusesOutOfRangeInputs) {
  SiteEvalBuilder b(BinaryLayout());
  EXPECT_FALSE(b.Add(2, 0, 0.5, 0.1).ok());
  EXPECT_FALSE(b.Add(-1, 0, 0.5, 0.1).ok());
  EXPECT_FALSE(b.Add(0, 2, 0.5, 0.1).ok());
  EXPECT_FALSE(b.Add(0, 0, 0.5, 0.1, 2).ok());
  EXPECT_FALSE(b.Add(0, 0, 0.5, 0.1, -2).ok());
  EXPECT_EQ(b.Finish().examples, 0u);
}

SiteEvalReport RandomReport(const EvalLayout& l, std::mt19937_64& rng) {
  SiteEvalBuilder b(l);
  const int n = std::uniform_int_distribution<int>(0, 40)(rng);
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 0; i < n; ++i) {
    const int label =
        std::uniform_int_distribution<int>(0, l.num_classes - 1)(rng);
    const int pred =
        std::uniform_int_distribution<int>(0, l.num_classes - 1)(rng);
    const int group =
        std::uniform_int_distribution<int>(-1, l.num_groups - 1)(rng);
    EXPECT_TRUE(b.Add(label, pred, u(rng), 3 * u(rng), group).ok());
  }
  return b.Finish();
}

TEST(SiteEvalReportTest, VectorRoundTripAndAddAreElementWise) {
  std::mt19937_64 rng(7);
  for (const EvalLayout& l : {BinaryLayout(), MulticlassLayout()}) {
    for (int trial = 0; trial < 50; ++trial) {
      const SiteEvalReport a = RandomReport(l, rng);
      const SiteEvalReport b = RandomReport(l, rng);
      ASSERT_TRUE(ValidateSiteReport(l, a, 40).ok())
          << ValidateSiteReport(l, a, 40);
      const std::vector<uint64_t> va = a.ToVector(l);
      ASSERT_EQ(va.size(), l.length());
      absl::StatusOr<SiteEvalReport> back = SiteEvalReport::FromVector(l, va);
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(*back, a);
      SiteEvalReport sum = a;
      ASSERT_TRUE(sum.Add(b).ok());
      const std::vector<uint64_t> vb = b.ToVector(l);
      const std::vector<uint64_t> vs = sum.ToVector(l);
      for (size_t i = 0; i < vs.size(); ++i) EXPECT_EQ(vs[i], va[i] + vb[i]);
    }
  }
}

TEST(SiteEvalReportTest, FromVectorRefusesLengthMismatch) {
  const EvalLayout l = BinaryLayout();
  std::vector<uint64_t> v(l.length() + 1);
  EXPECT_FALSE(SiteEvalReport::FromVector(l, v).ok());
  v.resize(l.length() - 1);
  EXPECT_FALSE(SiteEvalReport::FromVector(l, v).ok());
}

TEST(SiteEvalReportTest, AddRefusesShapeMismatchAndOverflow) {
  SiteEvalReport a = SiteEvalReport::Zero(BinaryLayout());
  EXPECT_EQ(a.Add(SiteEvalReport::Zero(MulticlassLayout())).code(),
            absl::StatusCode::kInvalidArgument);
  SiteEvalReport big = SiteEvalReport::Zero(BinaryLayout());
  big.loss_histogram[1] = UINT64_MAX;
  a.loss_histogram[1] = 1;
  a.examples = 3;
  EXPECT_EQ(a.Add(big).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(a.examples, 3u);  // unchanged
}

// Each tampering breaks one consistency rule of an honest report.
TEST(ValidateSiteReportTest, RefusesInconsistentReportsNamingTheField) {
  const EvalLayout l = BinaryLayout();
  std::mt19937_64 rng(3);
  SiteEvalReport honest;
  do {
    honest = RandomReport(l, rng);
  } while (honest.examples < 10);
  ASSERT_TRUE(ValidateSiteReport(l, honest, 100).ok());
  struct Case {
    const char* field;
    void (*tamper)(SiteEvalReport&);
  };
  const Case cases[] = {
      {"correct", [](SiteEvalReport& r) { r.correct = r.examples + 1; }},
      {"loss_units",
       [](SiteEvalReport& r) { r.loss_units = r.examples * 2000 + 2; }},
      {"true_positives", [](SiteEvalReport& r) { ++r.true_positives; }},
      {"positive_score_bins",
       [](SiteEvalReport& r) {
         ++r.positive_score_bins[0];
         ++r.negative_score_bins[0];
         --r.negative_score_bins[0];
       }},
      {"sites", [](SiteEvalReport& r) { r.sites = 2; }},
      {"accuracy_histogram",
       [](SiteEvalReport& r) { r.accuracy_histogram[0] ^= 1; }},
      {"loss_histogram", [](SiteEvalReport& r) { r.loss_histogram[0] ^= 1; }},
      {"accuracy_units", [](SiteEvalReport& r) { r.accuracy_units += 2; }},
      {"accuracy_sq_units",
       [](SiteEvalReport& r) { r.accuracy_sq_units += 2; }},
      {"sites_below_threshold",
       [](SiteEvalReport& r) { r.sites_below_threshold ^= 1; }},
      {"group_examples",
       [](SiteEvalReport& r) { r.group_examples[0] = r.examples + 1; }},
      {"group_true_positives",
       [](SiteEvalReport& r) {
         r.group_true_positives[1] = r.group_positives[1] + 1;
       }},
      {"layout", [](SiteEvalReport& r) { r.group_correct.push_back(0); }},
  };
  for (const Case& c : cases) {
    SiteEvalReport r = honest;
    c.tamper(r);
    const absl::Status s = ValidateSiteReport(l, r, 100);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(s.message().find(c.field), std::string::npos)
        << c.field << ": " << s;
  }
}

TEST(ValidateSiteReportTest, EveryHonestValueIsWithinItsBound) {
  const EvalLayout l = BinaryLayout();
  const std::vector<uint64_t> bounds = SiteReportBounds(l, 40);
  ASSERT_EQ(bounds.size(), l.length());
  EXPECT_EQ(bounds[0], 40u);
  EXPECT_EQ(bounds[2], 80001u);    // 40 * 2 / 1e-3 + 1
  EXPECT_EQ(bounds[7], 1u);        // sites
  EXPECT_EQ(bounds[9], 1000000u);  // accuracy_units
  EXPECT_EQ(bounds.back(), 1u);    // a one-hot bin
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 100; ++trial) {
    const std::vector<uint64_t> v = RandomReport(l, rng).ToVector(l);
    for (size_t i = 0; i < v.size(); ++i) EXPECT_LE(v[i], bounds[i]) << i;
  }
}

}  // namespace
}  // namespace fedlearn
