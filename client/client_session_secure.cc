// ClientSession's secure-upload steps (client_session.h): advancing the
// SecureUpload one step, or completing it from a long poll the caller made
// (NextSecAggPoll / CompleteSecAggPoll), and what the step returns.
#include <chrono>
#include <optional>
#include <utility>

#include "client/client_session.h"
#include "client/client_session_steps.h"
#include "common/util/log.h"

namespace fedlearn {

using session_steps::Failed;
using session_steps::Result;
using session_steps::UploadLost;

std::optional<ClientSession::SecAggPoll> ClientSession::NextSecAggPoll() const {
  if (secure_upload_ == nullptr || !secure_upload_->polls()) {
    return std::nullopt;
  }
  const std::chrono::milliseconds wait =
      secure_upload_->PollWait(clock_->Now());
  // Past the deadline: the step ends the upload.
  if (wait.count() <= 0) return std::nullopt;
  return SecAggPoll{secure_upload_->run_id(), secure_upload_->round(), wait};
}

ClientSession::StepResult ClientSession::CompleteSecAggPoll(
    absl::StatusOr<SecAggExchangeReply> reply) {
  StepResult result = OnSecureProgress(secure_upload_->CompletePoll(
      transport_, clock_->Now(), std::move(reply)));
  if (options_.observer != nullptr) options_.observer->OnState(State());
  return result;
}

ClientSession::StepResult ClientSession::AdvanceSecureUpload() {
  return OnSecureProgress(secure_upload_->Advance(transport_, clock_->Now()));
}

ClientSession::StepResult ClientSession::OnSecureProgress(
    absl::StatusOr<SecureUpload::Progress> progress) {
  const uint64_t round = secure_upload_->round();
  if (!progress.ok()) {
    // A transient failure keeps the upload: the next step resends.
    if (!secure_upload_->ended()) return Failed(progress.status());
    secure_upload_.reset();
    return Refused(UploadLost(progress.status()), Failed(progress.status()));
  }
  if (!progress->done) {
    StepResult r = Result(StepKind::kIdle, round);
    r.retry_after_ms = progress->retry_after_ms;
    r.waited = progress->poll_now;  // ask again at once
    return r;
  }
  secure_upload_.reset();
  spdlog::info(
      "round {}: securely aggregated update ({} examples, {:.2f} s training)",
      round, summary_.num_examples, summary_.seconds);
  if (options_.observer != nullptr) options_.observer->OnUpdateDelivered(true);
  return Delivered(round);
}

}  // namespace fedlearn
