#include "common/evaluation/eval_statistics_json.h"

#include <cmath>

namespace fedlearn {
namespace {

nlohmann::json Number(double x) {
  return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr);
}

nlohmann::json Spread(const SpreadStatistics& s, bool with_threshold) {
  nlohmann::json j = {{"weighted_mean", Number(s.weighted_mean)},
                      {"unweighted_mean", Number(s.unweighted_mean)},
                      {"stddev", Number(s.stddev)},
                      {"min", Number(s.min)},
                      {"worst10_mean", Number(s.worst10_mean)},
                      {"p10", Number(s.p10)},
                      {"p50", Number(s.p50)},
                      {"p90", Number(s.p90)},
                      {"exact", s.exact}};
  if (with_threshold) j["below_threshold"] = s.below_threshold;
  return j;
}

nlohmann::json Binary(const BinaryStatistics& b) {
  return {{"precision", Number(b.precision)},
          {"recall", Number(b.recall)},
          {"f1", Number(b.f1)},
          {"roc_auc", Number(b.roc_auc)},
          {"pr_auc", Number(b.pr_auc)},
          {"tp", b.true_positives},
          {"fp", b.false_positives},
          {"tn", b.true_negatives},
          {"fn", b.false_negatives}};
}

nlohmann::json Group(const GroupStatistics& g, bool binary) {
  nlohmann::json j = {{"name", g.name},
                      {"examples", g.examples},
                      {"accuracy", Number(g.accuracy)}};
  if (binary) {
    j["positive_rate"] = Number(g.positive_rate);
    j["true_positive_rate"] = Number(g.true_positive_rate);
  }
  return j;
}

}  // namespace

nlohmann::json EvalStatisticsToJson(const EvalStatistics& stats) {
  nlohmann::json j = {{"sites", stats.sites},
                      {"examples", stats.examples},
                      {"accuracy", Number(stats.accuracy)},
                      {"loss", Number(stats.loss)},
                      {"accuracy_spread", Spread(stats.accuracy_spread, true)},
                      {"loss_spread", Spread(stats.loss_spread, false)}};
  if (stats.binary) j["binary"] = Binary(*stats.binary);
  if (!stats.groups.empty()) {
    nlohmann::json groups = nlohmann::json::array();
    for (const GroupStatistics& g : stats.groups) {
      groups.push_back(Group(g, stats.binary.has_value()));
    }
    j["groups"] = std::move(groups);
  }
  if (stats.accuracy_gap) j["accuracy_gap"] = Number(*stats.accuracy_gap);
  if (stats.demographic_parity_difference) {
    j["demographic_parity_difference"] =
        Number(*stats.demographic_parity_difference);
  }
  if (stats.equal_opportunity_difference) {
    j["equal_opportunity_difference"] =
        Number(*stats.equal_opportunity_difference);
  }
  return j;
}

}  // namespace fedlearn
