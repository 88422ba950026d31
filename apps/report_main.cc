// fedlearn-report: writes a self-contained HTML report of a run from the
// coordinator's state directory (server/report/): a summary, SVG charts of
// accuracy, loss, privacy spent against the budget, clients and duration per
// round, federated evaluation (accuracy across sites, PR-AUC, fairness and
// per-site tables, from metrics.jsonl and evaluation.jsonl), and the run's
// configuration (run-config.toml). The state directory of an
// evaluation-only job (fedlearn-coordinator --evaluate-model: evaluation.jsonl
// alone) gets the report of its evaluations.
//
//   fedlearn-report state/                       # writes state/report.html
//   fedlearn-report state/ --out /tmp/run.html
//
// Exit status: 0 written (warnings, e.g. a torn last metrics line, are on
// stderr and in the report), 2 usage errors or a state directory that
// cannot be read (the file and line on stderr).
#include <ctime>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "common/util/atomic_file.h"
#include "common/util/version.h"
#include "server/report/report_html.h"
#include "server/report/run_report.h"

namespace fedlearn {
namespace {

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &utc);
  return text;
}

int WriteReport(const std::string& state_dir, std::string out) {
  absl::StatusOr<RunReport> report = LoadRunReport(state_dir);
  if (!report.ok()) {
    std::cerr << "fedlearn-report: " << report.status().message() << "\n";
    return 2;
  }
  for (const std::string& w : report->warnings) {
    std::cerr << "fedlearn-report: warning: " << w << "\n";
  }
  if (out.empty()) out = state_dir + "/report.html";
  const std::string html =
      BuildReportHtml(*report, {VersionLine("report"), UtcNow()});
  if (absl::Status s = WriteFileAtomically(out, html); !s.ok()) {
    std::cerr << "fedlearn-report: " << s.message() << "\n";
    return 2;
  }
  if (report->evaluation_job) {
    std::cout << "wrote " << out << " (" << report->evaluations.size()
              << " evaluation(s) of evaluation-only job '" << report->run_id
              << "')\n";
  } else {
    std::cout << "wrote " << out << " (" << report->rounds.size()
              << " rounds of run '" << report->run_id << "')\n";
  }
  return 0;
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) {
  CLI::App app{
      "Writes a self-contained HTML report (SVG charts, summary, "
      "configuration) of a fedlearn run from its state directory."};
  app.set_version_flag("--version", fedlearn::VersionLine("report"));
  std::string state_dir;
  std::string out;
  app.add_option("state_dir", state_dir,
                 "The coordinator's state directory (metrics.jsonl, "
                 "checkpoint.json, run-config.toml, evaluation.jsonl; an "
                 "evaluation-only job's holds evaluation.jsonl alone)")
      ->required();
  app.add_option("--out", out,
                 "The HTML file to write (default: "
                 "STATE_DIR/report.html)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return fedlearn::WriteReport(state_dir, out);
}
