#include "apps/simulation/round_progress_bar.h"

#include "absl/strings/str_format.h"

namespace fedlearn {

RoundProgressBar::RoundProgressBar(int num_rounds)
    : bar_("rounds", num_rounds), before_(&bar_), after_(&bar_, num_rounds) {}

std::string RoundProgressBar::Describe(const RoundSummary& summary,
                                       int num_rounds) {
  std::string text = absl::StrFormat("round %d/%d", summary.round, num_rounds);
  if (summary.eval.has_value()) {
    absl::StrAppendFormat(&text, " | acc %.2f%%",
                          100.0 * summary.eval->accuracy);
  }
  if (summary.federated_eval.has_value()) {
    absl::StrAppendFormat(&text, " | sites acc %.1f%%",
                          100.0 * summary.federated_eval->stats.accuracy);
  }
  if (summary.dp.has_value()) {
    absl::StrAppendFormat(&text, " | eps %.3g", summary.dp->epsilon);
  }
  return text;
}

absl::Status RoundProgressBar::Before::OnRoundCompleted(const RoundSummary&,
                                                        const FlatModel&) {
  bar_->Clear();
  return absl::OkStatus();
}

void RoundProgressBar::Before::OnRoundRetried(uint64_t, int,
                                              const std::string&) {
  bar_->Clear();
}

absl::Status RoundProgressBar::After::OnRoundCompleted(
    const RoundSummary& summary, const FlatModel&) {
  last_ = Describe(summary, num_rounds_);
  bar_->Update(static_cast<int64_t>(summary.round), last_);
  return absl::OkStatus();
}

void RoundProgressBar::After::OnRoundStarted(
    uint64_t round, int attempt, const std::vector<std::string>& cohort) {
  std::string text =
      absl::StrFormat("round %d/%d running (%d clients%s)", round, num_rounds_,
                      cohort.size(), attempt > 1 ? ", retry" : "");
  if (!last_.empty()) text += " | last: " + last_;
  bar_->Update(static_cast<int64_t>(round) - 1, text);
}

void RoundProgressBar::After::OnRunEnded(const absl::Status&) {
  bar_->Finish(last_);
}

}  // namespace fedlearn
