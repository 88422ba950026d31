// A site with record-level DP in the client session: each delivered task
// spends from the site's budget and sets fedlearn_client_record_epsilon; the
// task that would exceed the budget is refused untrained, counted as a
// privacy_floor refusal, and the site leaves the run (permanent), telling
// the coordinator why. Fake trainer and transport (no LibTorch, no network).
#include <atomic>
#include <map>
#include <sstream>
#include <string>

#include "client/client_metrics.h"
#include "client/client_session.h"
#include "client/training/dp_sgd.h"
#include "client/training/record_dp_trainer.h"
#include "common/util/status_class.h"
#include "gtest/gtest.h"
#include "tests/client/fake_session_parts.h"

namespace fedlearn {
namespace {

using Kind = ClientSession::StepKind;

double Sample(const MetricsRegistry& registry, const std::string& series) {
  std::istringstream in(registry.Render());
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  ADD_FAILURE() << series << " not rendered";
  return -1;
}

TEST(RecordDpSessionTest,
     TaskBeyondTheBudgetIsRefusedUntrainedAndTheSiteLeaves) {
  // FakeTrainer: 42 examples; the task's default batch 32, 1 epoch: q 32/42,
  // 2 steps per task at sigma 1. A budget between the first and the second
  // task's epsilon.
  const DpSgdPlan plan = *PlanDpSgd(42, TrainingConfig().batch_size, 1);
  auto scratch = *RecordPrivacyBudget::Open(1e-5, 1e9, "");
  const double first = *scratch->Spend(plan.sampling_rate, 1.0, plan.steps);
  const double second = *scratch->Spend(plan.sampling_rate, 1.0, plan.steps);
  ASSERT_LT(first, second);
  auto budget = *RecordPrivacyBudget::Open(1e-5, (first + second) / 2, "");

  MetricsRegistry registry;
  ClientMetrics metrics(&registry, /*record_dp=*/true);
  auto fake = std::make_unique<FakeTrainer>(8);
  FakeTrainer* inner = fake.get();
  RecordDpTrainer trainer(
      std::move(fake), 1.0, budget.get(),
      [&metrics](double eps) { metrics.OnRecordEpsilon(eps); });
  FakeTransport transport;
  std::atomic<bool> cancel{false};
  ClientSession::Options options;
  options.observer = &metrics;
  ClientSession session(&transport, &trainer, nullptr, options);
  Join(session, cancel);

  transport.fetch_replies.push_back(TaskReply(8, 1));
  ASSERT_EQ(session.Step(cancel).kind, Kind::kTaskReceived);
  ASSERT_EQ(session.Step(cancel).kind, Kind::kUploading);
  ASSERT_EQ(session.Step(cancel).kind, Kind::kTrained);
  EXPECT_DOUBLE_EQ(Sample(registry, "fedlearn_client_record_epsilon"), first);

  transport.fetch_replies.push_back(TaskReply(8, 2));
  ASSERT_EQ(session.Step(cancel).kind, Kind::kTaskReceived);
  ClientSession::StepResult r = session.Step(cancel);
  EXPECT_EQ(r.kind, Kind::kFailed);
  EXPECT_TRUE(IsRecordBudgetRefusal(r.status)) << r.status;
  EXPECT_TRUE(IsPermanent(r.status));
  EXPECT_EQ(inner->calls, 1);
  EXPECT_EQ(transport.pushed.size(), 1u);
  ASSERT_EQ(transport.leaves.size(), 1u);
  EXPECT_TRUE(transport.leaves[0].permanent);
  EXPECT_NE(transport.leaves[0].reason.find("record-level privacy budget"),
            std::string::npos);
  EXPECT_EQ(
      Sample(registry,
             "fedlearn_client_tasks_refused_total{reason=\"privacy_floor\"}"),
      1);
  EXPECT_EQ(
      Sample(registry,
             "fedlearn_client_tasks_refused_total{reason=\"training_error\"}"),
      0);
  EXPECT_DOUBLE_EQ(Sample(registry, "fedlearn_client_record_epsilon"), first);
}

TEST(RecordDpSessionTest, MetricsWithoutRecordDpHaveNoEpsilonSeries) {
  MetricsRegistry registry;
  ClientMetrics metrics(&registry);
  metrics.OnRecordEpsilon(3.0);  // ignored
  EXPECT_EQ(registry.Render().find("record_epsilon"), std::string::npos);
}

}  // namespace
}  // namespace fedlearn
