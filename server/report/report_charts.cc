#include "server/report/report_charts.h"

#include <algorithm>
#include <cmath>

#include "server/report/federated_eval_report.h"

namespace fedlearn {
namespace {

bool AnyFinite(const std::vector<double>& v) {
  return std::any_of(v.begin(), v.end(),
                     [](double x) { return std::isfinite(x); });
}

double MaxFinite(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) {
    if (std::isfinite(x)) m = std::max(m, x);
  }
  return m;
}

}  // namespace

bool AddRoundChart(const RunReport& report, const ChartSpec& spec,
                   std::vector<Chart>* charts) {
  Chart chart;
  chart.title = spec.title;
  chart.y_label = spec.y_label;
  chart.kind = spec.kind;
  chart.y_from_zero = spec.y_from_zero;
  chart.x = RoundNumbers(report);
  for (const SeriesSpec& s : spec.series) {
    std::vector<double> y = RoundSeries(report, s.pointer);
    if (AnyFinite(y)) chart.series.push_back({s.name, std::move(y)});
  }
  if (chart.series.empty()) return false;
  charts->push_back(std::move(chart));
  return true;
}

RunCharts BuildRunCharts(const RunReport& report) {
  RunCharts out;
  std::vector<Chart>& c = out.charts;
  if (!AddRoundChart(report,
                     {"Test accuracy per round",
                      "accuracy",
                      ChartKind::kLine,
                      {{"test accuracy", "/test_accuracy"}}},
                     &c)) {
    out.notes.push_back(
        "No test accuracy: the run has no server-side evaluation set "
        "([evaluation] dataset = \"\").");
  }
  AddRoundChart(report,
                {"Loss per round",
                 "loss",
                 ChartKind::kLine,
                 {{"test loss", "/test_loss"},
                  {"train loss (clients' mean)", "/train_loss"}}},
                &c);
  AddFederatedEvalCharts(report, &c);
  if (AddRoundChart(report,
                    {"Privacy spent (\u03b5) per round",
                     "\u03b5 (cumulative)",
                     ChartKind::kLine,
                     {{"\u03b5 spent", "/dp/epsilon"}},
                     true},
                    &c) &&
      report.config && report.config->epsilon_budget) {
    c.back().reference_lines.push_back(
        {"budget", *report.config->epsilon_budget});
  }
  AddRoundChart(report,
                {"Clip norm per round",
                 "C (L2)",
                 ChartKind::kLine,
                 {{"clip norm C", "/dp/clip_norm"}},
                 true},
                &c);
  AddRoundChart(report,
                {"Clients per round",
                 "clients",
                 ChartKind::kBar,
                 {{"selected", "/selected"},
                  {"participants", "/participants"},
                  {"dropped", "/dropped"}}},
                &c);
  AddRoundChart(report,
                {"Round duration",
                 "seconds",
                 ChartKind::kLine,
                 {{"seconds", "/seconds"}},
                 true},
                &c);
  const std::vector<double> attempts = RoundSeries(report, "/attempt");
  if (MaxFinite(attempts) > 1) {
    AddRoundChart(report,
                  {"Attempts per round (retries after too few updates)",
                   "attempts",
                   ChartKind::kBar,
                   {{"attempts", "/attempt"}}},
                  &c);
  } else if (AnyFinite(attempts)) {
    out.notes.push_back("Every round completed at its first attempt.");
  }
  return out;
}

}  // namespace fedlearn
