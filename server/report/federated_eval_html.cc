#include "server/report/federated_eval_html.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/escape.h"
#include "server/report/federated_eval_report.h"
#include "server/report/svg_chart.h"

namespace fedlearn {

const char kFederatedEvalStyle[] = R"(
table.eval { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
table.eval th, table.eval td { padding: 3px 10px; border-bottom: 1px solid #eee;
                               text-align: right; }
table.eval th { color: #555; font-weight: normal; background: #fafafa; }
table.eval td.name, table.eval th.name { text-align: left; }
table.eval tr.below td { background: #fdecea; }
h3 { font-size: 15px; margin-top: 20px; }
)";

namespace {

constexpr size_t kNameChars = 64;  // of a site or group name shown

using Json = nlohmann::json;

// Escaped for a log line (no control bytes, bounded), then for HTML.
std::string Name(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "?";
  return XmlEscape(EscapeUntrusted(j[key].get<std::string>(), kNameChars));
}

std::string Percent(double v) {
  return std::isfinite(v) ? absl::StrFormat("%.2f%%", 100 * v) : "n/a";
}
std::string Fixed3(double v) {
  return std::isfinite(v) ? absl::StrFormat("%.3f", v) : "n/a";
}
std::string Fixed4(double v) {
  return std::isfinite(v) ? absl::StrFormat("%.4f", v) : "n/a";
}
std::string Count(double v) {
  return std::isfinite(v) ? absl::StrFormat("%.0f", v) : "n/a";
}

std::string Cells(const std::vector<std::string>& cells, const char* tag) {
  std::string out;
  for (const std::string& c : cells) {
    absl::StrAppend(&out, "<", tag, ">", c, "</", tag, ">");
  }
  return out;
}

std::string Header(const std::vector<std::string>& names) {
  return absl::StrCat("<tr><th class=\"name\">", names.front(), "</th>",
                      Cells({names.begin() + 1, names.end()}, "th"), "</tr>");
}

std::string Row(const std::string& name, const std::vector<std::string>& cells,
                bool below = false) {
  return absl::StrCat(below ? "<tr class=\"below\">" : "<tr>",
                      "<td class=\"name\">", name, "</td>", Cells(cells, "td"),
                      "</tr>");
}

std::string ModelText(const FederatedEvaluation& e) {
  return e.model_version >= 0 ? absl::StrCat(e.model_version) : "?";
}

// One row per evaluation, in round order.
std::string EvaluationsTable(const std::vector<FederatedEvaluation>& evals) {
  std::string out =
      "<table class=\"eval\">" +
      Header({"round", "model", "kind", "sites", "examples", "accuracy",
              "worst site", "p10", "loss", "PR-AUC", "ROC-AUC"});
  for (const FederatedEvaluation& e : evals) {
    const Json& s = *e.stats;
    out += Row(
        absl::StrCat(e.round),
        {ModelText(e), e.evaluation_only ? "evaluation only" : "training round",
         Count(JsonNumber(s, "/sites")), Count(JsonNumber(s, "/examples")),
         Percent(JsonNumber(s, "/accuracy")),
         Percent(JsonNumber(s, "/accuracy_spread/min")),
         Percent(JsonNumber(s, "/accuracy_spread/p10")),
         Fixed4(JsonNumber(s, "/loss")),
         Fixed3(JsonNumber(s, "/binary/pr_auc")),
         Fixed3(JsonNumber(s, "/binary/roc_auc"))});
  }
  return out + "</table>";
}

// The spread of site accuracy and loss, and the sites below the threshold.
std::string SpreadTable(const Json& s, const RunReport& report) {
  struct Stat {
    const char* name;
    const char* key;
  };
  const Stat stats[] = {{"weighted mean", "weighted_mean"},
                        {"unweighted mean", "unweighted_mean"},
                        {"standard deviation", "stddev"},
                        {"minimum", "min"},
                        {"worst 10% mean", "worst10_mean"},
                        {"p10", "p10"},
                        {"p50", "p50"},
                        {"p90", "p90"}};
  std::string out =
      "<table class=\"eval\">" + Header({"across sites", "accuracy", "loss"});
  for (const Stat& st : stats) {
    const std::string a = absl::StrCat("/accuracy_spread/", st.key);
    const std::string l = absl::StrCat("/loss_spread/", st.key);
    out += Row(st.name, {Percent(JsonNumber(s, a.c_str())),
                         Fixed4(JsonNumber(s, l.c_str()))});
  }
  std::string threshold = "the accuracy threshold";
  if (report.config && report.config->accuracy_threshold) {
    threshold =
        absl::StrFormat("%.2f%%", 100 * *report.config->accuracy_threshold);
  }
  out += Row(
      absl::StrCat("sites below ", threshold),
      {absl::StrCat(Count(JsonNumber(s, "/accuracy_spread/below_threshold")),
                    " of ", Count(JsonNumber(s, "/sites"))),
       ""});
  out += "</table>";
  const Json::json_pointer exact("/accuracy_spread/exact");
  if (s.contains(exact) && s[exact].is_boolean() && !s[exact].get<bool>()) {
    out +=
        "<p class=\"notes\">The coordinator saw only the sum of the sites' "
        "reports: the minimum, worst-10% mean and quantiles of site accuracy "
        "come from its histogram, to the bin width (its means, standard "
        "deviation and the count below the threshold are exact); every loss "
        "figure but the weighted mean comes from the histogram of site mean "
        "loss, to its bin width.</p>";
  }
  return out;
}

std::string BinaryTable(const Json& s) {
  if (!s.contains("binary") || !s["binary"].is_object()) return "";
  const Json& b = s["binary"];
  return "<table class=\"eval\">" +
         Header({"binary (class 1 positive, P(1) &ge; 0.5)", "precision",
                 "recall", "F1", "ROC-AUC", "PR-AUC", "TP", "FP", "TN", "FN"}) +
         Row("all sites",
             {Fixed3(JsonNumber(b, "/precision")),
              Fixed3(JsonNumber(b, "/recall")), Fixed3(JsonNumber(b, "/f1")),
              Fixed3(JsonNumber(b, "/roc_auc")),
              Fixed3(JsonNumber(b, "/pr_auc")), Count(JsonNumber(b, "/tp")),
              Count(JsonNumber(b, "/fp")), Count(JsonNumber(b, "/tn")),
              Count(JsonNumber(b, "/fn"))}) +
         "</table>";
}

// Per-group accuracy and rates, then the gaps between groups.
std::string GroupTable(const Json& s) {
  if (!s.contains("groups") || !s["groups"].is_array() || s["groups"].empty()) {
    return "";
  }
  std::string out = "<table class=\"eval\">" +
                    Header({"group", "examples", "accuracy", "positive rate",
                            "true-positive rate"});
  for (const Json& g : s["groups"]) {
    out +=
        Row(Name(g, "name"), {Count(JsonNumber(g, "/examples")),
                              Percent(JsonNumber(g, "/accuracy")),
                              Percent(JsonNumber(g, "/positive_rate")),
                              Percent(JsonNumber(g, "/true_positive_rate"))});
  }
  out += "</table><table class=\"eval\">" +
         Header({"between groups (largest minus smallest)", "difference"});
  out += Row("accuracy gap", {Fixed4(JsonNumber(s, "/accuracy_gap"))});
  out += Row("demographic parity difference (positive rate)",
             {Fixed4(JsonNumber(s, "/demographic_parity_difference"))});
  out += Row("equal opportunity difference (true-positive rate)",
             {Fixed4(JsonNumber(s, "/equal_opportunity_difference"))});
  return out + "</table>";
}

// Each site's own metrics; rows below the threshold are marked.
std::string PerSiteTable(const FederatedEvaluation& e,
                         const RunReport& report) {
  const Json& sites = (*e.stats)["per_site"];
  const bool binary =
      !sites.empty() && sites[0].is_object() && sites[0].contains("binary");
  std::vector<std::string> header = {"site", "examples", "accuracy", "loss"};
  if (binary) {
    for (const char* h : {"precision", "recall", "PR-AUC", "ROC-AUC"}) {
      header.push_back(h);
    }
  }
  std::string out =
      absl::StrCat("<h3>Per site (round ", e.round, ", model ", ModelText(e),
                   "; [evaluation] per_site = true)</h3><table class=\"eval\">",
                   Header(header));
  const double threshold = report.config && report.config->accuracy_threshold
                               ? *report.config->accuracy_threshold
                               : std::nan("");
  for (const Json& site : sites) {
    const double acc = JsonNumber(site, "/accuracy");
    std::vector<std::string> cells = {Count(JsonNumber(site, "/examples")),
                                      Percent(acc),
                                      Fixed4(JsonNumber(site, "/loss"))};
    if (binary) {
      for (const char* p : {"/binary/precision", "/binary/recall",
                            "/binary/pr_auc", "/binary/roc_auc"}) {
        cells.push_back(Fixed3(JsonNumber(site, p)));
      }
    }
    out += Row(Name(site, "site"), cells, acc < threshold);
  }
  return out + "</table>";
}

bool HasPerSite(const FederatedEvaluation& e) {
  return e.stats->contains("per_site") && (*e.stats)["per_site"].is_array() &&
         !(*e.stats)["per_site"].empty();
}

}  // namespace

std::string FederatedEvaluationSummaryRow(const RunReport& report) {
  const std::vector<FederatedEvaluation> evals = FederatedEvaluations(report);
  if (evals.empty()) return "";
  const FederatedEvaluation& e = evals.back();
  std::string text = absl::StrCat(
      "accuracy ", Percent(JsonNumber(*e.stats, "/accuracy")), ", worst site ",
      Percent(JsonNumber(*e.stats, "/accuracy_spread/min")));
  const double pr_auc = JsonNumber(*e.stats, "/binary/pr_auc");
  if (std::isfinite(pr_auc))
    absl::StrAppend(&text, ", PR-AUC ", Fixed3(pr_auc));
  absl::StrAppend(&text, " (", Count(JsonNumber(*e.stats, "/sites")),
                  " sites, round ", e.round, ", model ", ModelText(e), ")");
  return absl::StrCat("<tr><th>Last federated evaluation</th><td>", text,
                      "</td></tr>");
}

std::string FederatedEvaluationSection(const RunReport& report) {
  const std::vector<FederatedEvaluation> evals = FederatedEvaluations(report);
  if (evals.empty()) return "";
  const FederatedEvaluation& last = evals.back();
  std::string out = absl::StrCat(
      "<h2>Federated evaluation</h2><p class=\"notes\">Each site evaluates "
      "the model it receives on its own held-out data, never trained on; ",
      last.secure ? "secure aggregation: the coordinator saw only the sum of "
                    "the sites' reports."
                  : "the coordinator saw each site's report.",
      "</p>", EvaluationsTable(evals));
  absl::StrAppend(&out, "<h3>Fairness: the last evaluation (round ", last.round,
                  ", model ", ModelText(last), ")</h3>",
                  SpreadTable(*last.stats, report), BinaryTable(*last.stats),
                  GroupTable(*last.stats));
  for (size_t i = evals.size(); i-- > 0;) {
    if (HasPerSite(evals[i])) {
      out += PerSiteTable(evals[i], report);
      break;
    }
  }
  return out;
}

}  // namespace fedlearn
