// Federated evaluation on the coordinator (docs/fedeval design, issue 11):
// which rounds carry an evaluation task, how a round's site reports are
// collected, and what the round publishes from them.
//
// Schedule (FederatedEvaluationConfig): with `every` = k > 0, training
// rounds 1, 1+k, 1+2k, ... ask their cohort to evaluate the model the round
// starts from (version r-1) on their held-out split before training; with
// `final`, one evaluation-only round follows the last training round (the
// final model, version num_rounds). The evaluation-only job
// (fedlearn-coordinator --evaluate-model) is a run of no training round and
// that one evaluation-only round. An evaluation-only round leaves the model
// exactly as it is: no release, no optimizer step, no DP, no model file.
//
// Collection (EvalReportCollection): a plaintext report is parsed against
// the contract's layout and checked with ValidateSiteReport before the
// update it came with is accepted (a bad one rejects the update, as a
// malformed delta does); accepted reports are kept per site, so the spread
// over sites is exact (SummarizeSites). Secure rounds decode the sum from
// the masked vector's tail (EvalVectorCodec) and learn no site's report,
// unless per_site asks sites to send theirs in the clear as well.
//
// Refuses (Validate): evaluation with DP (the site metrics would be released
// outside the privacy accountant), max_examples of 0, a negative `every`.
//
// Value types and pure functions; thread-compatible.
#ifndef FEDLEARN_SERVER_ROUND_FEDERATED_EVALUATION_H_
#define FEDLEARN_SERVER_ROUND_FEDERATED_EVALUATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/evaluation/eval_statistics.h"
#include "common/evaluation/site_eval_report.h"
#include "nlohmann/json.hpp"

namespace fedlearn {

// Largest accepted [evaluation] max_examples (a site's held-out count).
inline constexpr uint64_t kMaxEvalExamplesBound = uint64_t{1} << 40;

struct FederatedEvaluationConfig {
  int every = 0;      // 0: no piggybacked evaluation (off)
  bool final = true;  // with every > 0: an evaluation-only round at the end
  uint64_t max_examples = 1'000'000;  // public bound on a site's count
  bool per_site = false;  // publish each site's metrics (sites send them)
  // The evaluation-only job: num_rounds is 0 and the run is one
  // evaluation-only round of the initial model.
  bool job = false;
  std::string model_file;  // the job's model file, for its record
  // The job's model's own version and run (its file header): what the
  // job's record and log name as the model evaluated. The protocol still
  // numbers the job's one round 1, of model version 0.
  std::optional<uint64_t> model_file_version;
  std::string model_file_run_id;
  // Resuming: the final evaluation of the last model is already recorded
  // (<state>/evaluation.jsonl), so it is not redone.
  bool final_done = false;

  bool enabled() const { return every > 0 || job; }
  // Whether training round `round` (>= 1) carries an evaluation task.
  bool EvaluatesTrainingRound(uint64_t round) const {
    return every > 0 && round >= 1 && (round - 1) % every == 0;
  }
  // Whether an evaluation-only round is still to run once `round` is past
  // the last training round.
  bool EvaluationOnlyPending(uint64_t round, int num_rounds) const {
    return round > static_cast<uint64_t>(num_rounds) &&
           ((every > 0 && final) || job) && !final_done;
  }
  // InvalidArgument in the engine's terms (evaluation.*).
  absl::Status Validate(bool dp, int num_rounds) const;
};

// What one attempt's collector needs to know about its evaluation.
struct EvalAttempt {
  EvalLayout layout;
  uint64_t max_examples = 0;
  bool per_site = false;
  bool evaluate_only = false;
};

// The reports an attempt collected.
struct CollectedEvaluation {
  bool secure = false;
  // Secure rounds: the decoded sum of the survivors' reports.
  std::optional<SiteEvalReport> sum;
  // Plaintext rounds: every accepted site's report; secure rounds with
  // per_site: the clear reports of the survivors. Sorted by site id.
  std::vector<std::pair<std::string, SiteEvalReport>> sites;
};

class EvalReportCollection {
 public:
  explicit EvalReportCollection(const EvalAttempt& attempt)
      : attempt_(attempt) {}

  const EvalAttempt& attempt() const { return attempt_; }
  // One site's report from its flat values: InvalidArgument ("evaluation
  // report: ...") if it is missing, of the wrong length or not an honest
  // site's report (ValidateSiteReport).
  absl::StatusOr<SiteEvalReport> Check(absl::Span<const uint64_t> values) const;
  // Keeps an accepted site's report (the last one per site).
  void Keep(const std::string& client_id, SiteEvalReport report);
  // The kept reports of `survivors` only (all if null), sorted by id.
  CollectedEvaluation Take(const std::vector<std::string>* survivors = nullptr);

 private:
  EvalAttempt attempt_;
  std::vector<std::pair<std::string, SiteEvalReport>> reports_;
};

// What a round publishes of its evaluation (round_types.h
// FederatedEvalSummary's stats and per-site table).
struct PublishedEvaluation {
  EvalStatistics stats;
  std::vector<std::pair<std::string, EvalStatistics>> per_site;
};
// From what the round collected: SummarizeSites over the plaintext reports
// (exact spread), or SummarizeSum of a secure round's sum; with `per_site`,
// SummarizeSite of each site's own report. Sites that reported no examples
// are not counted.
PublishedEvaluation SummarizeCollected(
    const EvalLayout& layout, const std::vector<std::string>& group_names,
    bool per_site, const CollectedEvaluation& collected);

// " | sites 10 acc 81.2% (min 64.0%, p10 70.1%, sd 5.3%)" and, for binary
// tasks, " pr-auc 0.71": the progress line's suffix.
std::string DescribeEvalStatistics(const EvalStatistics& stats);

// {"model_version", "secure", <EvalStatisticsToJson>, "per_site": [{"site",
// <EvalStatisticsToJson>}, ...] (when published)}.
nlohmann::json FederatedEvalJson(
    uint64_t model_version, bool secure, const EvalStatistics& stats,
    const std::vector<std::pair<std::string, EvalStatistics>>& per_site);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_FEDERATED_EVALUATION_H_
