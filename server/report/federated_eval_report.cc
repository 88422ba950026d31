#include "server/report/federated_eval_report.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"
#include "server/report/report_charts.h"

namespace fedlearn {
namespace {

constexpr size_t kQuoteChars = 64;  // of a value echoed in an error

// `run_id` null: any run id (the first line of a job's file); else the run
// id a line must carry, whose origin `run_id_source` names.
absl::StatusOr<RoundRecord> ParseEvaluationLine(
    std::string_view text, const std::string& origin, int line,
    const std::string* run_id, const std::string& run_id_source) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) return JsonLineError(origin, line, "not valid JSON");
  if (!j.is_object()) {
    return JsonLineError(
        origin, line,
        absl::StrCat("expected a JSON object, got ", j.type_name()));
  }
  if (!j.contains("round") || !j["round"].is_number_unsigned() ||
      j["round"].get<uint64_t>() == 0) {
    return JsonLineError(origin, line,
                         "'round' (a round number >= 1) is missing or not an "
                         "integer");
  }
  if (!j.contains("federated_eval") || !j["federated_eval"].is_object()) {
    return JsonLineError(origin, line,
                         "'federated_eval' (an object) is missing");
  }
  if (j.contains("run_id")) {
    if (!j["run_id"].is_string()) {
      return JsonLineError(origin, line, "'run_id' must be a string");
    }
    const std::string id = j["run_id"].get<std::string>();
    if (run_id != nullptr && id != *run_id) {
      return JsonLineError(
          origin, line,
          absl::StrCat("run_id '", EscapeUntrusted(id, kQuoteChars),
                       "' differs from ", run_id_source, " '",
                       EscapeUntrusted(*run_id, kQuoteChars), "'"));
    }
  }
  RoundRecord r;
  r.line = line;
  r.round = j["round"].get<uint64_t>();
  r.fields = std::move(j);
  return r;
}

bool HasEvaluation(const RoundRecord& r) {
  return r.fields.contains("federated_eval") &&
         r.fields["federated_eval"].is_object();
}

// The model version of a record: inside federated_eval (metrics.jsonl),
// else at the top (evaluation.jsonl); -1 if neither is an integer.
int64_t ModelVersion(const RoundRecord& r) {
  for (const nlohmann::json* j : {&r.fields["federated_eval"], &r.fields}) {
    if (j->contains("model_version") &&
        (*j)["model_version"].is_number_integer()) {
      return (*j)["model_version"].get<int64_t>();
    }
  }
  return -1;
}

bool Secure(const RoundRecord& r) {
  for (const nlohmann::json* j : {&r.fields["federated_eval"], &r.fields}) {
    if (j->contains("secure") && (*j)["secure"].is_boolean()) {
      return (*j)["secure"].get<bool>();
    }
  }
  return false;
}

}  // namespace

double JsonNumber(const nlohmann::json& j, const char* pointer) {
  const nlohmann::json::json_pointer p(pointer);
  if (!j.is_object() || !j.contains(p) || !j[p].is_number()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return j[p].get<double>();
}

absl::StatusOr<std::vector<RoundRecord>> ParseEvaluationJsonl(
    std::string_view text, const std::string& origin, const std::string& run_id,
    std::vector<std::string>* warnings) {
  std::vector<RoundRecord> records;
  const bool from_first_line = run_id.empty();
  std::string first_run_id;
  RETURN_IF_ERROR(ForEachJsonLine(
      text, origin, warnings,
      [&](std::string_view body, int line) {
        if (!from_first_line) {
          return ParseEvaluationLine(body, origin, line, &run_id,
                                     "checkpoint.json's");
        }
        return ParseEvaluationLine(
            body, origin, line, records.empty() ? nullptr : &first_run_id,
            records.empty()
                ? ""
                : absl::StrCat("line ", records.front().line, "'s"));
      },
      [&](RoundRecord r) {
        if (records.empty()) first_run_id = r.fields.value("run_id", "");
        records.push_back(std::move(r));
        return absl::OkStatus();
      }));
  return records;
}

std::vector<FederatedEvaluation> FederatedEvaluations(const RunReport& report) {
  std::vector<FederatedEvaluation> out;
  auto add = [&out](const RoundRecord& r, bool evaluation_only) {
    if (!HasEvaluation(r)) return;
    FederatedEvaluation e;
    e.round = r.round;
    e.model_version = ModelVersion(r);
    e.evaluation_only = evaluation_only;
    e.secure = Secure(r);
    e.stats = &r.fields["federated_eval"];
    out.push_back(e);
  };
  for (const RoundRecord& r : report.rounds) add(r, false);
  for (const RoundRecord& r : report.evaluations) add(r, true);
  std::stable_sort(
      out.begin(), out.end(),
      [](const FederatedEvaluation& a, const FederatedEvaluation& b) {
        return a.round < b.round;
      });
  return out;
}

RunReport EvaluationChartView(const RunReport& report) {
  RunReport view;
  view.run_id = report.run_id;
  view.config = report.config;
  for (const RoundRecord& r : report.rounds) {
    if (HasEvaluation(r)) view.rounds.push_back(r);
  }
  for (const RoundRecord& r : report.evaluations) {
    if (!HasEvaluation(r)) continue;
    if (!view.rounds.empty() && r.round <= view.rounds.back().round) continue;
    view.rounds.push_back(r);
  }
  return view;
}

void AddFederatedEvalCharts(const RunReport& report,
                            std::vector<Chart>* charts) {
  const RunReport view = EvaluationChartView(report);
  if (view.rounds.empty()) return;
  if (AddRoundChart(view,
                    {"Federated accuracy across sites (held-out data)",
                     "accuracy",
                     ChartKind::kLine,
                     {{"weighted mean", "/federated_eval/accuracy"},
                      {"p10 of sites", "/federated_eval/accuracy_spread/p10"},
                      {"worst site", "/federated_eval/accuracy_spread/min"}}},
                    charts) &&
      report.config && report.config->accuracy_threshold) {
    charts->back().reference_lines.push_back(
        {"threshold", *report.config->accuracy_threshold});
  }
  if (!AddRoundChart(view,
                     {"PR-AUC and ROC-AUC per round (federated, binary task)",
                      "area under the curve",
                      ChartKind::kLine,
                      {{"PR-AUC", "/federated_eval/binary/pr_auc"},
                       {"ROC-AUC", "/federated_eval/binary/roc_auc"}},
                      true},
                     charts)) {
    return;
  }
  // PR-AUC's chance level: the share of positives among the examples.
  const nlohmann::json& last = view.rounds.back().fields["federated_eval"];
  const double positives =
      JsonNumber(last, "/binary/tp") + JsonNumber(last, "/binary/fn");
  const double examples = JsonNumber(last, "/examples");
  if (std::isfinite(positives) && examples > 0) {
    charts->back().reference_lines.push_back(
        {"positive rate (chance PR-AUC)", positives / examples});
  }
}

}  // namespace fedlearn
