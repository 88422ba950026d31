#include "server/round/update_collector.h"

#include "absl/strings/str_cat.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "server/round/round_errors.h"

namespace fedlearn {

UpdateCollector::UpdateCollector(const AttemptSetup& setup)
    : RoundCollector(setup.round, setup.attempt, Cohort(setup.cohort)),
      deadline_(setup.deadline),
      min_updates_(setup.config->min_updates) {
  if (setup.evaluation != nullptr) eval_.emplace(*setup.evaluation);
}

absl::Status UpdateCollector::CheckMayUpload(
    const std::string& client_id) const {
  RETURN_IF_ERROR(RoundCollector::CheckMayUpload(client_id));
  if (!cohort().Pending(client_id)) {
    return AlreadyAnsweredError(client_id, round());
  }
  return absl::OkStatus();
}

void UpdateCollector::OnLeave(const std::string& client_id) {
  cohort().RejectIfPending(client_id);
}

bool UpdateCollector::Poll(TimePoint now) {
  return cohort().Complete() || now >= deadline_;
}

absl::Status UpdateCollector::AdmitUpdate(const std::string& client_id,
                                          const absl::Status& content) {
  RETURN_IF_ERROR(CheckMayUpload(client_id));
  if (!content.ok()) {
    cohort().Set(client_id, ClientRoundState::kRejected);
    spdlog::warn("round {}: rejected update from {}: {}", round(), client_id,
                 content.message());
    return content;
  }
  return absl::OkStatus();
}

std::optional<AttemptFailure> UpdateCollector::TooFewUpdates(
    int accepted) const {
  if (accepted >= min_updates_) return std::nullopt;
  return AttemptFailure{
      absl::StrCat(accepted, " accepted update(s) of ", cohort().size(),
                   " selected (", cohort().rejected(),
                   " rejected), need min_updates=", min_updates_),
      kTooFewUpdatesAdvice};
}

RoundAggregate UpdateCollector::CountedAggregate(int accepted) {
  RoundAggregate out;
  out.selected = static_cast<int>(cohort().size());
  out.participants = accepted;
  out.rejected = cohort().rejected();
  out.dropped = cohort().NotAccepted();
  if (eval_.has_value()) out.evaluation = eval_->Take();
  return out;
}

absl::StatusOr<std::optional<SiteEvalReport>> UpdateCollector::AdmitEvalReport(
    const std::string& client_id, absl::Span<const uint64_t> values) {
  if (!eval_.has_value()) return std::optional<SiteEvalReport>();
  absl::StatusOr<SiteEvalReport> report = eval_->Check(values);
  if (!report.ok()) {
    cohort().Set(client_id, ClientRoundState::kRejected);
    spdlog::warn("round {}: rejected update from {}: {}", round(), client_id,
                 report.status().message());
    return report.status();
  }
  return std::optional<SiteEvalReport>(*std::move(report));
}

void UpdateCollector::KeepEvalReport(const std::string& client_id,
                                     std::optional<SiteEvalReport> report) {
  if (eval_.has_value() && report.has_value()) {
    eval_->Keep(client_id, *std::move(report));
  }
}

}  // namespace fedlearn
