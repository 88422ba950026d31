#include "server/round/federated_evaluation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/evaluation/eval_statistics_json.h"

namespace fedlearn {

absl::Status FederatedEvaluationConfig::Validate(bool dp,
                                                 int num_rounds) const {
  if (every < 0) {
    return absl::InvalidArgumentError(
        "evaluation.every must be >= 0 (0: no federated evaluation)");
  }
  if (!enabled()) return absl::OkStatus();
  if (dp) {
    return absl::InvalidArgumentError(
        "federated evaluation with differential privacy is refused: each "
        "site's metrics would be released outside the privacy accountant "
        "(evaluation.every = 0; the server-side test set still works)");
  }
  if (max_examples < 1 || max_examples > kMaxEvalExamplesBound) {
    return absl::InvalidArgumentError(absl::StrCat(
        "evaluation.max_examples must be in [1, ", kMaxEvalExamplesBound, "]"));
  }
  if (job && num_rounds != 0) {
    return absl::InvalidArgumentError(
        "the evaluation-only job trains no round: num_rounds must be 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<SiteEvalReport> EvalReportCollection::Check(
    absl::Span<const uint64_t> values) const {
  if (values.empty()) {
    return absl::InvalidArgumentError(
        "evaluation report: the task asked for one and the update carries "
        "none");
  }
  absl::StatusOr<SiteEvalReport> report =
      SiteEvalReport::FromVector(attempt_.layout, values);
  if (!report.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation report: ", report.status().message()));
  }
  if (absl::Status s =
          ValidateSiteReport(attempt_.layout, *report, attempt_.max_examples);
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation report: ", s.message()));
  }
  return report;
}

void EvalReportCollection::Keep(const std::string& client_id,
                                SiteEvalReport report) {
  for (auto& [id, kept] : reports_) {
    if (id == client_id) {
      kept = std::move(report);
      return;
    }
  }
  reports_.emplace_back(client_id, std::move(report));
}

CollectedEvaluation EvalReportCollection::Take(
    const std::vector<std::string>* survivors) {
  CollectedEvaluation out;
  for (auto& [id, report] : reports_) {
    if (survivors != nullptr && std::find(survivors->begin(), survivors->end(),
                                          id) == survivors->end()) {
      continue;
    }
    out.sites.emplace_back(id, std::move(report));
  }
  reports_.clear();
  std::sort(out.sites.begin(), out.sites.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

PublishedEvaluation SummarizeCollected(
    const EvalLayout& layout, const std::vector<std::string>& group_names,
    bool per_site, const CollectedEvaluation& collected) {
  PublishedEvaluation out;
  std::vector<SiteEvalReport> counted;
  for (const auto& [id, report] : collected.sites) {
    if (report.sites == 0) continue;  // no held-out examples
    counted.push_back(report);
    if (per_site) {
      out.per_site.emplace_back(id, SummarizeSite(layout, report, group_names));
    }
  }
  if (collected.secure) {
    out.stats =
        SummarizeSum(layout,
                     collected.sum.has_value() ? *collected.sum
                                               : SiteEvalReport::Zero(layout),
                     group_names);
  } else {
    out.stats = SummarizeSites(layout, counted, group_names);
  }
  return out;
}

std::string DescribeEvalStatistics(const EvalStatistics& stats) {
  std::string text = absl::StrFormat(" | sites %d", stats.sites);
  if (stats.examples == 0) return text + " (no held-out examples)";
  absl::StrAppendFormat(
      &text, " acc %.1f%% (min %.1f%%, p10 %.1f%%, sd %.1f%%)",
      100.0 * stats.accuracy, 100.0 * stats.accuracy_spread.min,
      100.0 * stats.accuracy_spread.p10, 100.0 * stats.accuracy_spread.stddev);
  if (stats.binary.has_value()) {
    absl::StrAppendFormat(&text, " pr-auc %.2f", stats.binary->pr_auc);
  }
  return text;
}

nlohmann::json FederatedEvalJson(
    uint64_t model_version, bool secure, const EvalStatistics& stats,
    const std::vector<std::pair<std::string, EvalStatistics>>& per_site) {
  nlohmann::json j = {{"model_version", model_version}, {"secure", secure}};
  j.update(EvalStatisticsToJson(stats));
  if (!per_site.empty()) {
    nlohmann::json table = nlohmann::json::array();
    for (const auto& [id, site] : per_site) {
      nlohmann::json row = {{"site", id}};
      row.update(EvalStatisticsToJson(site));
      table.push_back(std::move(row));
    }
    j["per_site"] = std::move(table);
  }
  return j;
}

}  // namespace fedlearn
