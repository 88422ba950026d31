#include "server/report/report_html.h"

#include <cmath>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/escape.h"
#include "server/report/federated_eval_html.h"
#include "server/report/federated_eval_report.h"
#include "server/report/report_charts.h"
#include "server/report/svg_chart.h"

namespace fedlearn {
namespace {

constexpr char kStyle[] = R"(
body { font-family: Helvetica, Arial, sans-serif; color: #222;
       max-width: 1240px; margin: 24px auto; padding: 0 20px; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: 13px; margin-top: 0; }
table.summary { border-collapse: collapse; font-size: 14px; }
table.summary th { text-align: left; font-weight: normal; color: #555;
                   padding: 4px 24px 4px 0; }
table.summary td { padding: 4px 0; font-weight: bold; }
.warnings { background: #fff4e5; border-left: 4px solid #e69f00;
            padding: 8px 16px; font-size: 14px; }
.charts { display: grid; gap: 16px;
          grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); }
.charts figure { margin: 0; border: 1px solid #e5e5e5; padding: 8px; }
.charts svg { width: 100%; height: auto; display: block; }
.notes { color: #555; font-size: 14px; }
pre.config { background: #f7f7f7; border: 1px solid #e5e5e5; padding: 12px;
             font-size: 12px; overflow-x: auto; }
footer { color: #888; font-size: 12px; margin-top: 32px; }
)";

constexpr size_t kQuoteChars = 200;  // of a model file name shown

std::string Esc(const std::string& s) { return XmlEscape(s); }

// The value at `pointer` of the last round that has one, and that round.
bool LastValue(const RunReport& report, const std::string& pointer,
               double* value, uint64_t* round) {
  const std::vector<double> v = RoundSeries(report, pointer);
  for (size_t i = v.size(); i-- > 0;) {
    if (std::isfinite(v[i])) {
      *value = v[i];
      *round = report.rounds[i].round;
      return true;
    }
  }
  return false;
}

std::string UtcTime(double unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &utc);
  return text;
}

// "on" / "off" / "mixed" over the rounds, else the configuration's.
std::string SecureAggregationText(const RunReport& report) {
  int on = 0, known = 0;
  for (double v : RoundSeries(report, "/secure_aggregation")) {
    if (!std::isfinite(v)) continue;
    ++known;
    on += v > 0 ? 1 : 0;
  }
  if (known > 0) {
    return on == known ? "on" : on == 0 ? "off" : "mixed (some rounds)";
  }
  if (report.config && report.config->secure_aggregation) {
    return *report.config->secure_aggregation ? "on (configured)"
                                              : "off (configured)";
  }
  return "unknown";
}

std::string PrivacyRows(const RunReport& report) {
  std::string mode;
  for (const RoundRecord& r : report.rounds) {
    if (r.fields.contains("dp") && r.fields["dp"].is_object()) {
      mode = r.fields["dp"].value("mode", "");
    }
  }
  if (mode.empty() && report.config && report.config->dp_mode) {
    mode = *report.config->dp_mode;
  }
  if (mode.empty()) mode = "off";
  std::string out = absl::StrCat("<tr><th>Differential privacy</th><td>",
                                 Esc(mode), "</td></tr>");
  double eps = 0, delta = 0;
  uint64_t round = 0;
  if (!LastValue(report, "/dp/epsilon", &eps, &round)) return out;
  const bool has_budget = report.config && report.config->epsilon_budget;
  LastValue(report, "/dp/delta", &delta, &round);
  absl::StrAppend(&out, "<tr><th>\u03b5 spent / budget</th><td>",
                  absl::StrFormat("%.3f", eps), " / ",
                  has_budget
                      ? absl::StrFormat("%.3f", *report.config->epsilon_budget)
                      : std::string("none"),
                  absl::StrFormat(" (\u03b4 = %g)", delta), "</td></tr>");
  return out;
}

// An evaluation-only job's summary: what it evaluated and when, no rounds.
std::string EvaluationJobSummary(const RunReport& report) {
  std::string out = "<table class=\"summary\">";
  auto row = [&out](const std::string& name, const std::string& value) {
    absl::StrAppend(&out, "<tr><th>", name, "</th><td>", value, "</td></tr>");
  };
  row("Run id", Esc(report.run_id));
  row("Job",
      "evaluation only (fedlearn-coordinator --evaluate-model): "
      "trains nothing, records no rounds");
  row("Evaluations recorded", absl::StrCat(report.evaluations.size()));
  if (report.evaluations.empty()) return out + "</table>";
  const nlohmann::json& last = report.evaluations.back().fields;
  const std::string file = last.value("model_file", "");
  if (!file.empty()) {
    std::string model = EscapeUntrusted(file, kQuoteChars);
    const std::string run = last.value("model_file_run_id", "");
    if (!run.empty()) {
      absl::StrAppend(&model, " (run ", EscapeUntrusted(run, kQuoteChars), ")");
    }
    row("Model file evaluated (last)", Esc(model));
  }
  out += FederatedEvaluationSummaryRow(report);
  const double at = JsonNumber(last, "/unix_ms");
  if (std::isfinite(at)) row("Last evaluation recorded", UtcTime(at));
  return out + "</table>";
}

std::string SummaryTable(const RunReport& report) {
  if (report.evaluation_job) return EvaluationJobSummary(report);
  std::string out = "<table class=\"summary\">";
  auto row = [&out](const std::string& name, const std::string& value) {
    absl::StrAppend(&out, "<tr><th>", name, "</th><td>", value, "</td></tr>");
  };
  row("Run id", Esc(report.run_id));
  std::string rounds = absl::StrCat(report.rounds.size());
  if (report.config && report.config->rounds) {
    absl::StrAppend(&rounds, " of ", *report.config->rounds, " configured");
  }
  row("Rounds completed", rounds);
  double v = 0;
  uint64_t r = 0;
  row("Final test accuracy",
      LastValue(report, "/test_accuracy", &v, &r)
          ? absl::StrFormat("%.2f%% (round %d)", 100 * v, r)
          : "n/a (no evaluation set)");
  if (LastValue(report, "/test_loss", &v, &r)) {
    row("Final test loss", absl::StrFormat("%.4f (round %d)", v, r));
  }
  out += FederatedEvaluationSummaryRow(report);
  row("Secure aggregation", Esc(SecureAggregationText(report)));
  out += PrivacyRows(report);
  double total = 0;
  for (double s : RoundSeries(report, "/seconds")) {
    if (std::isfinite(s)) total += s;
  }
  row("Time in rounds", absl::StrFormat("%.1f s", total));
  const std::vector<double> times = RoundSeries(report, "/unix_ms");
  if (!times.empty() && std::isfinite(times.front()) &&
      std::isfinite(times.back())) {
    row("First / last round recorded",
        UtcTime(times.front()) + " / " + UtcTime(times.back()));
  }
  return out + "</table>";
}

std::string ListSection(const std::string& css_class,
                        const std::vector<std::string>& items) {
  if (items.empty()) return "";
  std::string out = absl::StrCat("<div class=\"", css_class, "\"><ul>");
  for (const std::string& item : items) {
    absl::StrAppend(&out, "<li>", Esc(item), "</li>");
  }
  return out + "</ul></div>";
}

std::string ConfigSection(const RunReport& report) {
  std::string out = "<h2>Configuration</h2>";
  if (!report.config && report.evaluation_job) {
    return out +
           "<p class=\"notes\">An evaluation-only job writes no "
           "run-config.toml: its configuration was the coordinator's file "
           "and flags when it ran.</p>";
  }
  if (!report.config) {
    return out +
           "<p class=\"notes\">This state directory has no run-config.toml "
           "(coordinators write it at every start; older ones did not): "
           "the run's configuration is unknown.</p>";
  }
  return absl::StrCat(out,
                      "<p class=\"notes\">run-config.toml: the effective "
                      "configuration (file and command line) of the last "
                      "start.</p><pre class=\"config\">",
                      Esc(report.config->text), "</pre>");
}

}  // namespace

std::string BuildReportHtml(const RunReport& report,
                            const ReportHtmlOptions& options) {
  const char* kind =
      report.evaluation_job ? "Evaluation report: " : "Run report: ";
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\">"
      "<title>",
      kind, Esc(report.run_id), "</title><style>", kStyle, kFederatedEvalStyle,
      "</style></head><body>");
  absl::StrAppend(&out, "<h1>", kind, Esc(report.run_id),
                  "</h1><p class=\"meta\">State directory ",
                  Esc(report.state_dir), " &middot; generated ",
                  Esc(options.generated_at), " by ", Esc(options.generated_by),
                  "</p>");
  out += ListSection("warnings", report.warnings);
  out += "<h2>Summary</h2>" + SummaryTable(report);
  const RunCharts charts = BuildRunCharts(report);
  out += "<h2>Rounds</h2>";
  if (report.evaluation_job) {
    out += report.evaluations.empty()
               ? "<p class=\"notes\">None: an evaluation-only job trains "
                 "nothing, and its evaluation.jsonl holds no complete "
                 "evaluation yet.</p>"
               : "<p class=\"notes\">None: an evaluation-only job trains "
                 "nothing; its evaluations are below.</p>";
  } else if (report.rounds.empty()) {
    out += "<p class=\"notes\">No round has completed yet.</p>";
  } else {
    out += "<div class=\"charts\">";
    for (const Chart& chart : charts.charts) {
      absl::StrAppend(&out, "<figure>", RenderSvgChart(chart), "</figure>");
    }
    out += "</div>" + ListSection("notes", charts.notes);
  }
  out += FederatedEvaluationSection(report);
  out += ConfigSection(report);
  absl::StrAppend(&out, "<footer>", Esc(options.generated_by),
                  "</footer></body></html>\n");
  return out;
}

}  // namespace fedlearn
