// fedlearn-report on the state directory of an evaluation-only job
// (fedlearn-coordinator --evaluate-model): the job writes evaluation.jsonl
// and nothing of a training run (no checkpoint, metrics or run-config), so
// the report shows its evaluations instead of refusing the directory.
// Written with the coordinator's own store (FileRunStore), as the job does.
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/report/federated_eval_report.h"
#include "server/report/report_html.h"
#include "server/round/round_types.h"
#include "server/run_store.h"
#include "tests/server/report/report_fixture.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_report::WriteFile;
using testing_util::ScopedTempDir;

// What the job's one round records: model version 3 of run "bank" read
// from `model_file`, evaluated by four sites under secure aggregation.
FederatedEvalSummary JobEvaluation(const std::string& model_file) {
  FederatedEvalSummary s;
  s.run_id = "bank-eval";
  s.round = 1;
  s.model_version = 3;
  s.evaluate_only = true;
  s.secure = true;
  s.selected = 4;
  s.participants = 4;
  s.stats.sites = 4;
  s.stats.examples = 800;
  s.stats.accuracy = 0.875;
  s.stats.loss = 0.25;
  s.stats.accuracy_spread.weighted_mean = 0.875;
  s.stats.accuracy_spread.min = 0.75;
  s.model_file = model_file;
  s.model_file_run_id = "bank";
  return s;
}

// The job's state directory, as the coordinator leaves it.
void WriteJobStateDir(const ScopedTempDir& dir) {
  absl::StatusOr<std::unique_ptr<FileRunStore>> store =
      FileRunStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)
                  ->OnEvaluationCompleted(
                      JobEvaluation("/srv/bank/models/round-000003.fmodel"))
                  .ok());
}

std::string Html(const RunReport& r) {
  return BuildReportHtml(r, {"fedlearn-report test", "2026-12-01 00:00 UTC"});
}

TEST(EvaluationJobReportTest, JobStateDirectoryLoadsItsEvaluations) {
  ScopedTempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteJobStateDir(dir));
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->run_id, "bank-eval");
  EXPECT_TRUE(r->evaluation_job);
  EXPECT_TRUE(r->rounds.empty());
  ASSERT_EQ(r->evaluations.size(), 1u);
  EXPECT_EQ(r->evaluations[0].round, 1u);
  EXPECT_FALSE(r->config.has_value());
  EXPECT_TRUE(r->warnings.empty());
  const std::vector<FederatedEvaluation> evals = FederatedEvaluations(*r);
  ASSERT_EQ(evals.size(), 1u);
  EXPECT_EQ(evals[0].model_version, 3);
  EXPECT_TRUE(evals[0].secure);
}

TEST(EvaluationJobReportTest, HtmlShowsTheEvaluationAndSaysThereAreNoRounds) {
  ScopedTempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteJobStateDir(dir));
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string html = Html(*r);
  EXPECT_THAT(html, HasSubstr("<h1>Evaluation report: bank-eval</h1>"));
  EXPECT_THAT(html, HasSubstr("<th>Job</th><td>evaluation only"));
  EXPECT_THAT(html, HasSubstr("<th>Model file evaluated (last)</th><td>"
                              "/srv/bank/models/round-000003.fmodel (run "
                              "bank)</td>"));
  EXPECT_THAT(html, HasSubstr("<th>Last federated evaluation</th><td>"
                              "accuracy 87.50%, worst site 75.00%"));
  EXPECT_THAT(html, HasSubstr("<h2>Federated evaluation</h2>"));
  EXPECT_THAT(html, HasSubstr("an evaluation-only job trains nothing"));
  EXPECT_THAT(html, HasSubstr("An evaluation-only job writes no "
                              "run-config.toml"));
  // Nothing of a training run's summary that the job cannot have.
  EXPECT_THAT(html, Not(HasSubstr("Rounds completed")));
  EXPECT_THAT(html, Not(HasSubstr("No round has completed yet")));
  EXPECT_THAT(html, Not(HasSubstr("older ones did not")));
}

TEST(EvaluationJobReportTest, LinesOfTwoJobsOfDifferentRunsAreDataLoss) {
  ScopedTempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteJobStateDir(dir));
  FederatedEvalSummary other = JobEvaluation("/srv/other.fmodel");
  other.run_id = "other-eval";
  absl::StatusOr<std::unique_ptr<FileRunStore>> store =
      FileRunStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->OnEvaluationCompleted(other).ok());
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("evaluation.jsonl:2: run_id 'other-eval' differs "
                        "from line 1's 'bank-eval'"));
}

TEST(EvaluationJobReportTest, DirectoryWithNeitherRunNorJobIsStillNotFound) {
  ScopedTempDir dir;
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("neither a run's checkpoint nor an evaluation-only "
                        "job's evaluation.jsonl"));
  // A run's metrics without its checkpoint is a damaged run, not a job.
  WriteFile(dir.File("metrics.jsonl"), "");
  WriteFile(dir.File("evaluation.jsonl"), "");
  r = LoadRunReport(dir.path());
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr(dir.File("checkpoint.json")));
}

TEST(EvaluationJobReportTest, JobThatRecordedNothingYetSaysSo) {
  ScopedTempDir dir;
  WriteFile(dir.File("evaluation.jsonl"), "");
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->evaluation_job);
  EXPECT_TRUE(r->evaluations.empty());
  const std::string html = Html(*r);
  EXPECT_THAT(html, HasSubstr("<th>Evaluations recorded</th><td>0</td>"));
  EXPECT_THAT(html, HasSubstr("holds no complete evaluation yet"));
  EXPECT_THAT(html, Not(HasSubstr("<h2>Federated evaluation</h2>")));
}

}  // namespace
}  // namespace fedlearn
