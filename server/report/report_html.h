// The run report as one self-contained HTML page: a summary table, the
// charts of report_charts.h as inline SVG, the federated-evaluation tables
// (federated_eval_html.h; runs with federated evaluation only), any warnings
// from reading the state directory, and the run's configuration
// (run-config.toml).
//
// Guarantees: no JavaScript, no external fetch (styles inline, no fonts,
// images or links to load); every string from the state directory (run id,
// configuration text, warnings, site and group names) is HTML-escaped.
// Thread-safety: pure function.
#ifndef FEDLEARN_SERVER_REPORT_REPORT_HTML_H_
#define FEDLEARN_SERVER_REPORT_REPORT_HTML_H_

#include <string>

#include "server/report/run_report.h"

namespace fedlearn {

struct ReportHtmlOptions {
  std::string generated_by;  // e.g. "fedlearn-report 0.9.0 (abc1234)"
  std::string generated_at;  // e.g. "2026-12-01 16:00:00 UTC"
};

std::string BuildReportHtml(const RunReport& report,
                            const ReportHtmlOptions& options);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_REPORT_REPORT_HTML_H_
