// The plots of a run report, declared as a table: each chart names the
// metrics.jsonl keys (JSON pointers) of its series, so adding a plot is one
// AddRoundChart call. A series no round has a value for is left out, and a
// chart with no series left is not drawn, so keys a run does not write (no
// "dp" without differential privacy, no test metrics without an evaluation
// set, no federated-evaluation spread before issue 11) plot nothing rather
// than a fake zero line.
// Thread-safety: pure functions.
#ifndef FEDLEARN_SERVER_REPORT_REPORT_CHARTS_H_
#define FEDLEARN_SERVER_REPORT_REPORT_CHARTS_H_

#include <string>
#include <vector>

#include "server/report/run_report.h"
#include "server/report/svg_chart.h"

namespace fedlearn {

// One series: its legend name and the JSON pointer of its value in each
// metrics line (see RoundSeries: arrays count their elements).
struct SeriesSpec {
  std::string name;
  std::string pointer;
};

struct ChartSpec {
  std::string title;
  std::string y_label;
  ChartKind kind = ChartKind::kLine;
  std::vector<SeriesSpec> series;
  bool y_from_zero = false;
};

// Appends the chart `spec` describes to `charts` if any of its series has a
// value in some round (series without one are left out); true if it did.
// E.g., once federated evaluation writes its spread:
//   AddRoundChart(report, {"Client accuracy across sites", "accuracy",
//                          ChartKind::kLine,
//                          {{"p10", "/fed_eval/accuracy/p10"}, ...}},
//                 &charts);
bool AddRoundChart(const RunReport& report, const ChartSpec& spec,
                   std::vector<Chart>* charts);

struct RunCharts {
  std::vector<Chart> charts;
  std::vector<std::string> notes;  // why an expected chart is not there
};

// The report's plots, in order: test accuracy, loss, federated accuracy
// across sites and PR-AUC/ROC-AUC (runs with federated evaluation,
// federated_eval_report.h), epsilon per round
// against the budget (DP runs), clip norm (DP runs), clients per round,
// round duration, attempts per round (only if a round was retried).
RunCharts BuildRunCharts(const RunReport& report);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_REPORT_REPORT_CHARTS_H_
