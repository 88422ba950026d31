// The federated-evaluation part of the run report, from fixture lines in
// the format of common/evaluation/eval_statistics_json.h and the wrapper of
// the coordinator's metrics.jsonl / evaluation.jsonl: what is loaded, what
// is charted, and the exact HTML of the fairness and per-site tables.
#include "server/report/federated_eval_report.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/evaluation/eval_statistics_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/report/federated_eval_html.h"
#include "server/report/report_charts.h"
#include "server/report/report_html.h"
#include "tests/server/report/report_fixture.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pointwise;
using testing_report::RunFixture;
using testing_report::WriteFile;
using testing_report::WriteStateDir;
using testing_util::ScopedTempDir;

// The statistics of one evaluation; `acc` is the example-weighted accuracy,
// `min` the worst site's. Five sites, 1000 examples, 20 positives.
std::string Stats(double acc, double min, double pr_auc, bool exact) {
  return absl::StrCat(
      R"({"sites": 5, "examples": 1000, "accuracy": )", acc,
      R"(, "loss": 0.25, "accuracy_spread": {"weighted_mean": )", acc,
      R"(, "unweighted_mean": 0.9, "stddev": 0.05, "min": )", min,
      R"(, "worst10_mean": )", min,
      R"(, "p10": 0.85, "p50": 0.9, "p90": 0.97, "below_threshold": 2,)"
      R"( "exact": )",
      exact ? "true" : "false",
      R"(}, "loss_spread": {"weighted_mean": 0.25, "unweighted_mean": 0.3,)"
      R"( "stddev": 0.1, "min": 0.8, "worst10_mean": 0.8, "p10": 0.7,)"
      R"( "p50": 0.3, "p90": 0.1, "exact": false},)"
      R"( "binary": {"precision": 0.5, "recall": 0.25, "f1": 0.3333333,)"
      R"( "roc_auc": 0.9, "pr_auc": )",
      pr_auc,
      R"(, "tp": 5, "fp": 5, "tn": 975, "fn": 15},)"
      R"( "groups": [{"name": "18-29", "examples": 600, "accuracy": 0.98,)"
      R"( "positive_rate": 0.01, "true_positive_rate": 0.3},)"
      R"( {"name": "70+", "examples": 400, "accuracy": 0.97,)"
      R"( "positive_rate": 0.01, "true_positive_rate": 0.2}],)"
      R"( "accuracy_gap": 0.01, "demographic_parity_difference": 0,)"
      R"( "equal_opportunity_difference": 0.1})");
}

// metrics.jsonl of RunFixture `f` with "federated_eval" on every round
// (round r evaluates version r - 1), `per_site` (a JSON array) on the last.
std::string MetricsWithEvaluation(const RunFixture& f,
                                  const std::string& per_site = "") {
  std::string out;
  std::string text = testing_report::FixtureMetrics(f);
  for (int r = 1; r <= f.rounds; ++r) {
    const size_t end = text.find('\n');
    nlohmann::json line = nlohmann::json::parse(text.substr(0, end));
    text = text.substr(end + 1);
    nlohmann::json ev = nlohmann::json::parse(
        Stats(0.9 + 0.01 * r, 0.5 + 0.05 * r, 0.1 * r, /*exact=*/false));
    ev["model_version"] = r - 1;
    ev["secure"] = true;
    if (r == f.rounds && !per_site.empty()) {
      ev["per_site"] = nlohmann::json::parse(per_site);
    }
    line["federated_eval"] = ev;
    out += line.dump() + "\n";
  }
  return out;
}

// The final evaluation-only round, as evaluation.jsonl holds it.
std::string FinalEvaluation(int rounds) {
  return absl::StrCat(R"({"round": )", rounds + 1, R"(, "model_version": )",
                      rounds,
                      R"(, "kind": "evaluation", "secure": true,)"
                      R"( "federated_eval": )",
                      Stats(0.96, 0.625, 0.55, /*exact=*/false), "}\n");
}

constexpr char kConfig[] =
    "[run]\nid = \"report-test\"\nrounds = 3\n[secagg]\nenabled = true\n"
    "[evaluation]\nevery = 1\naccuracy_threshold = 0.9\n";

// A three-round secure run with federated evaluation and a final
// evaluation-only round.
void WriteEvaluatedRun(const ScopedTempDir& dir,
                       const std::string& per_site = "") {
  RunFixture f;
  f.rounds = 3;
  f.evaluation = false;
  WriteStateDir(dir.path(), f);
  WriteFile(dir.File("metrics.jsonl"), MetricsWithEvaluation(f, per_site));
  WriteFile(dir.File("evaluation.jsonl"), FinalEvaluation(3));
  WriteFile(dir.File("run-config.toml"), kConfig);
}

RunReport LoadOk(const ScopedTempDir& dir) {
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : RunReport{};
}

std::string Html(const RunReport& r) {
  return BuildReportHtml(r, {"fedlearn-report test", "2026-12-01 00:00 UTC"});
}

const Chart* FindChart(const std::vector<Chart>& charts,
                       const std::string& title_part) {
  for (const Chart& c : charts) {
    if (c.title.find(title_part) != std::string::npos) return &c;
  }
  return nullptr;
}

TEST(FederatedEvalReportTest, TrainingAndFinalEvaluationsAreLoadedInOrder) {
  ScopedTempDir dir;
  WriteEvaluatedRun(dir);
  const RunReport r = LoadOk(dir);
  ASSERT_EQ(r.evaluations.size(), 1u);
  const std::vector<FederatedEvaluation> evals = FederatedEvaluations(r);
  ASSERT_EQ(evals.size(), 4u);
  std::vector<int64_t> versions;
  for (const FederatedEvaluation& e : evals)
    versions.push_back(e.model_version);
  EXPECT_THAT(versions, ElementsAre(0, 1, 2, 3));
  EXPECT_FALSE(evals[2].evaluation_only);
  EXPECT_TRUE(evals[3].evaluation_only);
  EXPECT_EQ(evals[3].round, 4u);
  EXPECT_TRUE(evals[3].secure);
  EXPECT_EQ(r.config->accuracy_threshold, 0.9);
}

TEST(FederatedEvalReportTest, ChartsPlotAccuracySpreadAndPrAucPerRound) {
  ScopedTempDir dir;
  WriteEvaluatedRun(dir);
  const RunCharts charts = BuildRunCharts(LoadOk(dir));
  const Chart* acc = FindChart(charts.charts, "Federated accuracy");
  ASSERT_NE(acc, nullptr);
  EXPECT_THAT(acc->x, ElementsAre(1, 2, 3, 4));  // round 4: the final model
  ASSERT_EQ(acc->series.size(), 3u);
  EXPECT_EQ(acc->series[0].name, "weighted mean");
  EXPECT_THAT(acc->series[0].y,
              Pointwise(DoubleNear(1e-12), {0.91, 0.92, 0.93, 0.96}));
  EXPECT_EQ(acc->series[2].name, "worst site");
  EXPECT_THAT(acc->series[2].y,
              Pointwise(DoubleNear(1e-12), {0.55, 0.6, 0.65, 0.625}));
  ASSERT_EQ(acc->reference_lines.size(), 1u);
  EXPECT_EQ(acc->reference_lines[0].y, 0.9);
  const Chart* auc = FindChart(charts.charts, "PR-AUC");
  ASSERT_NE(auc, nullptr);
  EXPECT_EQ(auc->series[0].name, "PR-AUC");
  EXPECT_THAT(auc->series[0].y,
              Pointwise(DoubleNear(1e-12), {0.1, 0.2, 0.3, 0.55}));
  // PR-AUC's chance level: (tp + fn) / examples = 20 / 1000.
  ASSERT_EQ(auc->reference_lines.size(), 1u);
  EXPECT_DOUBLE_EQ(auc->reference_lines[0].y, 0.02);
}

TEST(FederatedEvalReportTest, RunWithoutEvaluationHasNoSectionOrCharts) {
  ScopedTempDir dir;
  WriteStateDir(dir.path(), RunFixture{});
  const RunReport r = LoadOk(dir);
  EXPECT_TRUE(r.evaluations.empty());
  EXPECT_EQ(FederatedEvaluationSection(r), "");
  EXPECT_EQ(FindChart(BuildRunCharts(r).charts, "Federated"), nullptr);
  EXPECT_EQ(FindChart(BuildRunCharts(r).charts, "PR-AUC"), nullptr);
  EXPECT_THAT(Html(r), Not(HasSubstr("Federated evaluation")));
  EXPECT_THAT(Html(r), Not(HasSubstr("federated evaluation")));
}

TEST(FederatedEvalReportTest, FairnessTablesShowTheLastEvaluation) {
  ScopedTempDir dir;
  WriteEvaluatedRun(dir);
  const std::string html = Html(LoadOk(dir));
  EXPECT_THAT(html, HasSubstr("<h2>Federated evaluation</h2>"));
  EXPECT_THAT(html, HasSubstr("only the sum of the sites' reports"));
  // The table of evaluations: one row each, the final one last.
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">1</td><td>0</td>"
                              "<td>training round</td><td>5</td><td>1000</td>"
                              "<td>91.00%</td><td>55.00%</td><td>85.00%</td>"
                              "<td>0.2500</td><td>0.100</td><td>0.900</td>"
                              "</tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">4</td><td>3</td>"
                              "<td>evaluation only</td>"));
  EXPECT_THAT(html, HasSubstr("Fairness: the last evaluation (round 4, "
                              "model 3)"));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">minimum</td>"
                              "<td>62.50%</td><td>0.8000</td></tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">standard deviation"
                              "</td><td>5.00%</td><td>0.1000</td></tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">sites below 90.00%"
                              "</td><td>2 of 5</td><td></td></tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">all sites</td>"
                              "<td>0.500</td><td>0.250</td><td>0.333</td>"
                              "<td>0.900</td><td>0.550</td><td>5</td><td>5</td>"
                              "<td>975</td><td>15</td></tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">70+</td><td>400</td>"
                              "<td>97.00%</td><td>1.00%</td><td>20.00%</td>"
                              "</tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">equal opportunity "
                              "difference (true-positive rate)</td>"
                              "<td>0.1000</td></tr>"));
  EXPECT_THAT(
      html,
      HasSubstr(
          "every loss figure but the weighted mean comes from the histogram"));
  EXPECT_THAT(html, HasSubstr("<tr><th>Last federated evaluation</th><td>"
                              "accuracy 96.00%, worst site 62.50%, PR-AUC "
                              "0.550 (5 sites, round 4, model 3)</td></tr>"));
  EXPECT_THAT(html, Not(HasSubstr("Per site")));  // per_site off
}

TEST(FederatedEvalReportTest, PerSiteTableMarksSitesBelowTheThreshold) {
  ScopedTempDir dir;
  WriteEvaluatedRun(
      dir,
      R"([{"site": "bank-1", "examples": 600, "accuracy": 0.95, "loss": 0.2,)"
      R"( "binary": {"precision": 0.5, "recall": 0.4, "pr_auc": 0.45,)"
      R"( "roc_auc": 0.91}},)"
      R"( {"site": "bank-2", "examples": 400, "accuracy": 0.85, "loss": 0.4,)"
      R"( "binary": {"precision": 0.25, "recall": 0.1, "pr_auc": 0.2,)"
      R"( "roc_auc": 0.8}}])");
  const std::string html = Html(LoadOk(dir));
  EXPECT_THAT(html, HasSubstr("<h3>Per site (round 3, model 2; [evaluation] "
                              "per_site = true)</h3>"));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">bank-1</td><td>600</td>"
                              "<td>95.00%</td><td>0.2000</td><td>0.500</td>"
                              "<td>0.400</td><td>0.450</td><td>0.910</td>"
                              "</tr>"));
  EXPECT_THAT(html, HasSubstr("<tr class=\"below\"><td class=\"name\">bank-2"
                              "</td><td>400</td><td>85.00%</td>"));
}

TEST(FederatedEvalReportTest, SiteAndGroupNamesAreEscapedAndTruncated) {
  ScopedTempDir dir;
  const std::string long_id(100, 'x');
  WriteEvaluatedRun(
      dir, absl::StrCat(R"([{"site": "<img src=x onerror=alert(1)>\nrow",)"
                        R"( "examples": 1, "accuracy": 1},)"
                        R"( {"site": ")",
                        long_id, R"(", "examples": 1, "accuracy": 1}])"));
  WriteFile(dir.File("evaluation.jsonl"),
            absl::StrReplaceAll(FinalEvaluation(3),
                                {{"\"70+\"", "\"<script>x</script>\""}}));
  const std::string html = Html(LoadOk(dir));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, HasSubstr("<td class=\"name\">&lt;script&gt;x&lt;/script"
                              "&gt;</td><td>400</td>"));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, HasSubstr("&lt;img src=x onerror=alert(1)&gt;\\nrow"));
  EXPECT_THAT(html, HasSubstr(std::string(64, 'x') + "...[36 more bytes]"));
  EXPECT_THAT(html, Not(HasSubstr(std::string(65, 'x'))));
}

TEST(FederatedEvalReportTest, BadEvaluationLinesAreDataLossNamingTheLine) {
  std::vector<std::string> warnings;
  const std::string ok = FinalEvaluation(3);
  absl::StatusOr<std::vector<RoundRecord>> r = ParseEvaluationJsonl(
      ok + "{\"round\": 5}\n", "evaluation.jsonl", "report-test", &warnings);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsDataLoss(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("evaluation.jsonl:2:"));
  EXPECT_THAT(r.status().message(), HasSubstr("'federated_eval'"));
  r = ParseEvaluationJsonl(
      "{\"round\": 4, \"run_id\": \"other\", \"federated_eval\": {}}\n",
      "evaluation.jsonl", "report-test", &warnings);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("run_id 'other' differs"));
  r = ParseEvaluationJsonl("[1]\n", "evaluation.jsonl", "report-test",
                           &warnings);
  EXPECT_THAT(r.status().message(), HasSubstr("expected a JSON object"));
  EXPECT_TRUE(warnings.empty());
}

TEST(FederatedEvalReportTest, TornLastEvaluationLineIsAWarning) {
  ScopedTempDir dir;
  WriteEvaluatedRun(dir);
  const std::string line = FinalEvaluation(3);
  WriteFile(dir.File("evaluation.jsonl"), line + line.substr(0, 30));
  const RunReport r = LoadOk(dir);
  EXPECT_EQ(r.evaluations.size(), 1u);
  EXPECT_THAT(r.warnings, ElementsAre(HasSubstr("evaluation.jsonl:2: the last "
                                                "line is incomplete")));
}

TEST(FederatedEvalReportTest, MetricsLineWithANonObjectEvaluationIsDataLoss) {
  ScopedTempDir dir;
  RunFixture f;
  f.rounds = 1;
  WriteStateDir(dir.path(), f);
  std::string metrics = testing_report::FixtureMetrics(f);
  metrics.insert(1, "\"federated_eval\": 3, ");
  WriteFile(dir.File("metrics.jsonl"), metrics);
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsDataLoss(r.status()));
  EXPECT_THAT(r.status().message(),
              HasSubstr(":1: 'federated_eval' must be an object"));
}

TEST(FederatedEvalReportTest, ValuesOfAnUnexpectedTypeAreShownAsNa) {
  ScopedTempDir dir;
  WriteEvaluatedRun(dir);
  WriteFile(dir.File("evaluation.jsonl"),
            "{\"round\": 4, \"federated_eval\": {\"sites\": \"five\", "
            "\"accuracy\": null, \"groups\": 7, \"per_site\": {}}}\n");
  const std::string html = Html(LoadOk(dir));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">4</td><td>?</td>"
                              "<td>evaluation only</td><td>n/a</td>"));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">minimum</td>"
                              "<td>n/a</td><td>n/a</td></tr>"));
}

// The coordinator's writer (EvalStatisticsToJson) and the report agree on
// every field name the report reads.
TEST(FederatedEvalReportTest, WriterSchemaIsWhatTheReportReads) {
  EvalStatistics st;
  st.sites = 5;
  st.examples = 1000;
  st.accuracy = 0.9625;
  st.loss = 0.125;
  st.accuracy_spread.min = 0.5;
  st.accuracy_spread.p10 = 0.75;
  st.accuracy_spread.stddev = 0.0625;
  st.accuracy_spread.below_threshold = 3;
  st.loss_spread.min = 0.25;
  st.binary = BinaryStatistics{0.5, 0.25, 0.375, 0.875, 0.4375, 5, 5, 975, 15};
  st.groups = {{"18-29", 600, 0.98, 0.01, 0.3}, {"70+", 400, 0.97, 0.02, 0.2}};
  st.accuracy_gap = 0.01;
  st.demographic_parity_difference = 0.01;
  st.equal_opportunity_difference = 0.1;
  ScopedTempDir dir;
  WriteEvaluatedRun(dir);
  WriteFile(dir.File("evaluation.jsonl"),
            absl::StrCat(R"({"round": 4, "model_version": 3, "secure": true,)"
                         R"( "federated_eval": )",
                         EvalStatisticsToJson(st).dump(), "}\n"));
  const RunReport r = LoadOk(dir);
  const std::string html = Html(r);
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">4</td><td>3</td>"
                              "<td>evaluation only</td><td>5</td><td>1000</td>"
                              "<td>96.25%</td><td>50.00%</td><td>75.00%</td>"
                              "<td>0.1250</td><td>0.438</td><td>0.875</td>"));
  EXPECT_THAT(html, HasSubstr("<td class=\"name\">standard deviation</td>"
                              "<td>6.25%</td>"));
  EXPECT_THAT(html, HasSubstr("sites below 90.00%</td><td>3 of 5</td>"));
  EXPECT_THAT(html, HasSubstr("<td>0.500</td><td>0.250</td><td>0.375</td>"
                              "<td>0.875</td><td>0.438</td><td>5</td><td>5</td>"
                              "<td>975</td><td>15</td>"));
  EXPECT_THAT(html, HasSubstr("<tr><td class=\"name\">70+</td><td>400</td>"
                              "<td>97.00%</td><td>2.00%</td><td>20.00%</td>"));
  EXPECT_THAT(html, HasSubstr("difference (true-positive rate)</td>"
                              "<td>0.1000</td>"));
  const Chart* auc = FindChart(BuildRunCharts(r).charts, "PR-AUC");
  ASSERT_NE(auc, nullptr);
  EXPECT_DOUBLE_EQ(auc->series[0].y.back(), 0.4375);
  EXPECT_DOUBLE_EQ(auc->reference_lines[0].y, 0.02);
}

}  // namespace
}  // namespace fedlearn
