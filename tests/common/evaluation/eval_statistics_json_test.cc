#include "common/evaluation/eval_statistics_json.h"

#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

SpreadStatistics Spread(double base, bool exact) {
  SpreadStatistics s;
  s.weighted_mean = base;
  s.unweighted_mean = base + 0.125;
  s.stddev = 0.0625;
  s.min = base - 0.25;
  s.worst10_mean = base - 0.125;
  s.p10 = base - 0.1875;
  s.p50 = base;
  s.p90 = base + 0.25;
  s.below_threshold = 3;
  s.exact = exact;
  return s;
}

TEST(EvalStatisticsJsonTest, BinaryWithGroupsExactText) {
  EvalStatistics st;
  st.sites = 10;
  st.examples = 1234;
  st.accuracy = 0.5;
  st.loss = 0.75;
  st.accuracy_spread = Spread(0.5, false);
  st.loss_spread = Spread(1.5, false);
  BinaryStatistics b;
  b.precision = 0.25;
  b.recall = kNaN;
  b.f1 = 0;
  b.roc_auc = 0.875;
  b.pr_auc = std::numeric_limits<double>::infinity();
  b.true_positives = 1;
  b.false_positives = 3;
  b.true_negatives = 4;
  b.false_negatives = 0;
  st.binary = b;
  st.groups.push_back({"f", 7, 0.5, 0.25, kNaN});
  st.groups.push_back({"m", 0, kNaN, kNaN, kNaN});
  st.demographic_parity_difference = 0.125;
  EXPECT_EQ(
      EvalStatisticsToJson(st).dump(),
      R"({"accuracy":0.5,"accuracy_spread":{"below_threshold":3,"exact":false,)"
      R"("min":0.25,"p10":0.3125,"p50":0.5,"p90":0.75,"stddev":0.0625,)"
      R"("unweighted_mean":0.625,"weighted_mean":0.5,"worst10_mean":0.375},)"
      R"("binary":{"f1":0.0,"fn":0,"fp":3,"pr_auc":null,"precision":0.25,)"
      R"("recall":null,"roc_auc":0.875,"tn":4,"tp":1},)"
      R"("demographic_parity_difference":0.125,"examples":1234,)"
      R"("groups":[{"accuracy":0.5,"examples":7,"name":"f",)"
      R"("positive_rate":0.25,"true_positive_rate":null},)"
      R"({"accuracy":null,"examples":0,"name":"m","positive_rate":null,)"
      R"("true_positive_rate":null}],"loss":0.75,)"
      R"("loss_spread":{"exact":false,"min":1.25,"p10":1.3125,"p50":1.5,)"
      R"("p90":1.75,"stddev":0.0625,"unweighted_mean":1.625,)"
      R"("weighted_mean":1.5,"worst10_mean":1.375},"sites":10})");
}

TEST(EvalStatisticsJsonTest, MulticlassWithoutGroupsOmitsOptionalFields) {
  EvalStatistics st;
  st.sites = 0;
  st.examples = 0;
  st.accuracy = kNaN;
  st.loss = kNaN;
  st.accuracy_spread = Spread(kNaN, true);
  st.accuracy_spread.below_threshold = 0;
  st.loss_spread = Spread(kNaN, true);
  st.accuracy_gap = 0.5;
  EXPECT_EQ(
      EvalStatisticsToJson(st).dump(),
      R"({"accuracy":null,"accuracy_gap":0.5,"accuracy_spread":)"
      R"({"below_threshold":0,"exact":true,"min":null,"p10":null,"p50":null,)"
      R"("p90":null,"stddev":0.0625,"unweighted_mean":null,)"
      R"("weighted_mean":null,"worst10_mean":null},"examples":0,"loss":null,)"
      R"("loss_spread":{"exact":true,"min":null,"p10":null,"p50":null,)"
      R"("p90":null,"stddev":0.0625,"unweighted_mean":null,)"
      R"("weighted_mean":null,"worst10_mean":null},"sites":0})");
}

TEST(EvalStatisticsJsonTest, GroupsInAMulticlassTaskHaveNoRates) {
  EvalStatistics st;
  st.groups.push_back({"x", 2, 1.0, 0.5, 0.5});
  const nlohmann::json j = EvalStatisticsToJson(st);
  ASSERT_EQ(j["groups"].size(), 1u);
  EXPECT_EQ(j["groups"][0].dump(),
            R"({"accuracy":1.0,"examples":2,"name":"x"})");
  EXPECT_FALSE(j.contains("binary"));
}

}  // namespace
}  // namespace fedlearn
