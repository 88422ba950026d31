#include "server/report/report_html.h"

#include <regex>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/report/report_charts.h"
#include "tests/server/report/report_fixture.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_report::RunFixture;
using testing_report::WriteFile;
using testing_report::WriteStateDir;
using testing_util::ScopedTempDir;

RunReport Load(const RunFixture& f, ScopedTempDir& dir) {
  WriteStateDir(dir.path(), f);
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : RunReport{};
}

std::string Html(const RunReport& r) {
  return BuildReportHtml(r, {"fedlearn-report test", "2026-12-01 00:00 UTC"});
}

std::vector<std::string> Titles(const RunReport& r) {
  std::vector<std::string> out;
  for (const Chart& c : BuildRunCharts(r).charts) out.push_back(c.title);
  return out;
}

TEST(ReportChartsTest, DpRunPlotsEpsilonAgainstTheBudget) {
  ScopedTempDir dir;
  RunFixture f;
  f.dp = true;
  const RunReport r = Load(f, dir);
  const RunCharts charts = BuildRunCharts(r);
  const Chart* eps = nullptr;
  for (const Chart& c : charts.charts) {
    if (c.title.find("Privacy spent") != std::string::npos) eps = &c;
  }
  ASSERT_NE(eps, nullptr);
  ASSERT_EQ(eps->reference_lines.size(), 1u);
  EXPECT_EQ(eps->reference_lines[0].y, 8.0);
  // No train loss in a DP run (null in metrics.jsonl): no such series.
  for (const Chart& c : charts.charts) {
    for (const ChartSeries& s : c.series) {
      EXPECT_THAT(s.name, Not(HasSubstr("train loss")));
    }
  }
}

TEST(ReportChartsTest, RunWithoutDpOrEvaluationPlotsNeither) {
  ScopedTempDir dir;
  RunFixture f;
  f.evaluation = false;
  const RunReport r = Load(f, dir);
  const std::vector<std::string> titles = Titles(r);
  EXPECT_THAT(titles, Not(::testing::Contains(HasSubstr("Privacy"))));
  EXPECT_THAT(titles, Not(::testing::Contains(HasSubstr("accuracy"))));
  EXPECT_THAT(titles, ::testing::Contains(HasSubstr("Clients per round")));
  EXPECT_THAT(BuildRunCharts(r).notes,
              ::testing::Contains(HasSubstr("No test accuracy")));
}

TEST(ReportChartsTest, AttemptsArePlottedOnlyWhenARoundWasRetried) {
  ScopedTempDir dir;
  RunFixture f;
  EXPECT_THAT(Titles(Load(f, dir)),
              Not(::testing::Contains(HasSubstr("Attempts"))));
  f.retried_round = 3;
  EXPECT_THAT(Titles(Load(f, dir)), ::testing::Contains(HasSubstr("Attempts")));
}

TEST(ReportChartsTest, AddingAPlotIsOneCallAndAbsentKeysPlotNothing) {
  ScopedTempDir dir;
  const RunReport r = Load(RunFixture{}, dir);
  std::vector<Chart> charts;
  EXPECT_FALSE(AddRoundChart(
      r, {"Spread", "accuracy", ChartKind::kLine, {{"p10", "/fed_eval/p10"}}},
      &charts));
  EXPECT_TRUE(charts.empty());
  EXPECT_TRUE(AddRoundChart(r,
                            {"Examples",
                             "examples",
                             ChartKind::kLine,
                             {{"examples", "/examples"}, {"none", "/nope"}}},
                            &charts));
  ASSERT_EQ(charts.size(), 1u);
  EXPECT_EQ(charts[0].series.size(), 1u);
}

TEST(ReportHtmlTest, SummaryShowsRunRoundsAccuracyPrivacyAndSecureAggregation) {
  ScopedTempDir dir;
  RunFixture f;
  f.dp = true;
  const std::string html = Html(Load(f, dir));
  EXPECT_THAT(html, HasSubstr("<td>report-test</td>"));
  EXPECT_THAT(html, HasSubstr("<td>5 of 5 configured</td>"));
  EXPECT_THAT(html, HasSubstr("<td>8.000 / 8.000 (\u03b4 = 1e-05)</td>"));
  EXPECT_THAT(html, HasSubstr("<th>Secure aggregation</th><td>on</td>"));
  EXPECT_THAT(html, HasSubstr("<td>distributed</td>"));
  EXPECT_THAT(html, HasSubstr("Final test accuracy"));
  EXPECT_THAT(html, HasSubstr("[dp]"));  // the configuration is embedded
}

TEST(ReportHtmlTest, NeedsNoScriptAndFetchesNothing) {
  ScopedTempDir dir;
  RunFixture f;
  f.dp = true;
  const std::string html = Html(Load(f, dir));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("href=")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  // The only URL is the SVG namespace, which is never fetched.
  const std::string no_ns = std::regex_replace(
      html, std::regex("xmlns=\"http://www.w3.org/2000/svg\""), "");
  EXPECT_THAT(no_ns, Not(HasSubstr("http")));
}

TEST(ReportHtmlTest, StateDirectoryTextIsEscaped) {
  ScopedTempDir dir;
  RunFixture f;
  f.run_id = "<b>run</b>";
  WriteStateDir(dir.path(), f);
  WriteFile(dir.File("run-config.toml"),
            "[run]\nid = \"</pre><script>alert(1)</script>\"\n");
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string html = Html(*r);
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<b>run")));
  EXPECT_THAT(html, HasSubstr("&lt;/pre&gt;&lt;script&gt;"));
  EXPECT_THAT(html, HasSubstr("&lt;b&gt;run&lt;/b&gt;"));
}

TEST(ReportHtmlTest, MissingConfigAndWarningsAreStated) {
  ScopedTempDir dir;
  RunFixture f;
  f.write_config = false;
  WriteStateDir(dir.path(), f);
  std::string metrics = testing_report::FixtureMetrics(f);
  WriteFile(dir.File("metrics.jsonl"), metrics.substr(0, metrics.size() - 20));
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string html = Html(*r);
  EXPECT_THAT(html, HasSubstr("has no run-config.toml"));
  EXPECT_THAT(html, HasSubstr("class=\"warnings\""));
  EXPECT_THAT(html, HasSubstr("the last line is incomplete"));
}

TEST(ReportHtmlTest, RunWithNoRoundYetSaysSo) {
  ScopedTempDir dir;
  RunFixture f;
  f.rounds = 0;
  const std::string html = Html(Load(f, dir));
  EXPECT_THAT(html, HasSubstr("No round has completed yet"));
  EXPECT_THAT(html, Not(HasSubstr("<svg")));
}

}  // namespace
}  // namespace fedlearn
