// The federated-evaluation gauges: absent unless the run evaluates, then set
// from each evaluation (piggybacked or evaluation-only).
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics/coordinator_metrics.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

CoordinatorMetrics::Options Options(bool federated, const Clock* clock) {
  CoordinatorMetrics::Options options;
  options.run_id = "run";
  options.num_rounds = 2;
  options.federated_evaluation = federated;
  options.clock = clock;
  return options;
}

std::string ValueOf(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return "<missing>";
  const size_t begin = at + name.size() + 2;
  return text.substr(begin, text.find('\n', begin) - begin);
}

FederatedEvalSummary Evaluation(double accuracy, double min, uint64_t sites) {
  FederatedEvalSummary e;
  e.stats.examples = 100;
  e.stats.sites = sites;
  e.stats.accuracy = accuracy;
  e.stats.accuracy_spread.min = min;
  return e;
}

TEST(FederatedEvalMetricsTest, AbsentWhenTheRunDoesNotEvaluate) {
  FakeClock clock;
  CoordinatorMetrics metrics(Options(false, &clock));
  EXPECT_THAT(metrics.registry().Render(),
              Not(HasSubstr("fedlearn_federated")));
}

TEST(FederatedEvalMetricsTest, SetByEachEvaluation) {
  FakeClock clock;
  CoordinatorMetrics metrics(Options(true, &clock));
  EXPECT_EQ(ValueOf(metrics.registry().Render(), "fedlearn_federated_accuracy"),
            "NaN");
  RoundSummary round;
  round.round = 1;
  round.federated_eval = Evaluation(0.75, 0.5, 4);
  ASSERT_TRUE(metrics.OnRoundCompleted(round, FlatModel()).ok());
  std::string text = metrics.registry().Render();
  EXPECT_EQ(ValueOf(text, "fedlearn_federated_accuracy"), "0.75");
  EXPECT_EQ(ValueOf(text, "fedlearn_federated_accuracy_min"), "0.5");
  EXPECT_EQ(ValueOf(text, "fedlearn_federated_sites"), "4");
  ASSERT_TRUE(metrics.OnEvaluationCompleted(Evaluation(0.875, 0.25, 5)).ok());
  text = metrics.registry().Render();
  EXPECT_EQ(ValueOf(text, "fedlearn_federated_accuracy"), "0.875");
  EXPECT_EQ(ValueOf(text, "fedlearn_federated_accuracy_min"), "0.25");
  EXPECT_EQ(ValueOf(text, "fedlearn_federated_sites"), "5");
}

}  // namespace
}  // namespace fedlearn
