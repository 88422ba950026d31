#include "server/round/round_collector.h"

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "server/round/evaluation_only_collector.h"
#include "server/round/plain_collector.h"
#include "server/round/robust_collector.h"
#include "server/round/round_errors.h"
#include "server/round/secure_collector.h"

namespace fedlearn {

absl::Status RoundCollector::CheckMayUpload(
    const std::string& client_id) const {
  if (cohort_.state(client_id) == ClientRoundState::kSelected) {
    return absl::FailedPreconditionError(absl::StrCat(
        "client '", client_id, "' must fetch the round's task before uploading",
        " (round ", round_, " attempt ", attempt_, ")"));
  }
  return absl::OkStatus();
}

absl::Status RoundCollector::AcceptsSecAgg(const std::string&) const {
  return NoSecureRoundError(round_, round_);
}

absl::StatusOr<SecAggExchangeReply> RoundCollector::SecAggExchange(
    const std::string&, const v1::SecAggClientMessage*) {
  return NoSecureRoundError(round_, round_);
}

absl::Status RoundCollector::SubmitMaskedInput(const std::string&,
                                               std::vector<uint32_t>,
                                               std::vector<uint64_t>) {
  return NoSecureRoundError(round_, round_);
}

absl::StatusOr<std::unique_ptr<RoundCollector>> StartRoundCollector(
    const AttemptSetup& setup) {
  if (setup.config->secagg.enabled) {
    ASSIGN_OR_RETURN(std::unique_ptr<SecureCollector> secure,
                     SecureCollector::Start(setup));
    return std::unique_ptr<RoundCollector>(std::move(secure));
  }
  if (setup.evaluation != nullptr && setup.evaluation->evaluate_only) {
    return std::unique_ptr<RoundCollector>(
        std::make_unique<EvaluationOnlyCollector>(setup));
  }
  if (setup.config->robust.robust()) {
    return std::unique_ptr<RoundCollector>(
        std::make_unique<RobustCollector>(setup));
  }
  std::optional<double> clip_norm;
  if (setup.dp_plan != nullptr) clip_norm = setup.dp_plan->task.clip_norm();
  return std::unique_ptr<RoundCollector>(
      std::make_unique<PlainCollector>(setup, clip_norm));
}

}  // namespace fedlearn
