#include "server/round/secure_collector.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/secagg/encoding_proto.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "server/round/round_errors.h"

namespace fedlearn {
namespace {

constexpr char kAbortAdvice[] =
    "raise secagg.dropout_rate or secagg.phase_timeout_s, or add clients";

std::string TooFewInputs(int participants, int min_updates) {
  return absl::StrCat(participants,
                      " masked inputs, need min_updates=", min_updates);
}

}  // namespace

absl::StatusOr<SecAggRoundConfig> SecureCollector::FitEncoding(
    const AttemptSetup& setup, const std::vector<std::string>& cohort) {
  const RoundEngineConfig& config = *setup.config;
  SecAggRoundConfig secagg = config.secagg;
  uint64_t largest = 1;
  // q-FFL: every client sends example count 1 (server/strategy/qffl.h).
  const bool unit_weights =
      config.strategy.kind == ServerOptimizerConfig::Kind::kQffl;
  for (const std::string& id : cohort) {
    if (unit_weights) break;
    largest = std::max(largest, std::min(setup.registry->DeclaredExamples(id),
                                         config.max_examples_per_update));
  }
  // One count limb: SecureRound sizes vectors by EncodedLength(D) = D + 2.
  const int n = static_cast<int>(cohort.size());
  absl::StatusOr<EncodingParameters> chosen = ChooseCohortEncoding(
      secagg.Encoding(n), n, largest, /*max_count_limbs=*/1);
  if (!chosen.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot encode for secure aggregation: ", chosen.status().message()));
  }
  secagg.quantization_bits = chosen->quantization_bits;
  secagg.max_weight = chosen->max_weight;
  spdlog::info(
      "{}: secure encoding q={} bits, max_weight={} (largest declared "
      "example count {})",
      AttemptLabel(setup.round, setup.attempt), secagg.quantization_bits,
      secagg.max_weight, largest);
  return secagg;
}

absl::StatusOr<std::unique_ptr<SecureCollector>> SecureCollector::Start(
    const AttemptSetup& setup) {
  std::vector<std::string> sorted(setup.cohort.begin(), setup.cohort.end());
  std::sort(sorted.begin(), sorted.end());
  SecAggRoundConfig secagg = setup.config->secagg;
  if (setup.dp_plan == nullptr) {
    ASSIGN_OR_RETURN(secagg, FitEncoding(setup, sorted));
  }
  std::optional<EvalVectorCodec> eval_codec;
  if (setup.evaluation != nullptr) {
    absl::StatusOr<EvalVectorCodec> codec = EvalVectorCodec::Create(
        setup.evaluation->layout, secagg.modulus_bits,
        static_cast<int>(sorted.size()), setup.evaluation->max_examples);
    if (!codec.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot encode evaluation reports for secure "
                       "aggregation: ",
                       codec.status().message()));
    }
    eval_codec = *std::move(codec);
  }
  absl::StatusOr<std::unique_ptr<SecureRound>> secure = SecureRound::Start(
      secagg, setup.round, setup.attempt, std::move(sorted), setup.dimension,
      setup.deadline, setup.dp_plan != nullptr ? &setup.dp_plan->task : nullptr,
      eval_codec.has_value() ? eval_codec->length() : 0);
  if (!secure.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot start secure aggregation: ", secure.status().message()));
  }
  return std::unique_ptr<SecureCollector>(
      new SecureCollector(setup, *std::move(secure), std::move(eval_codec)));
}

SecureCollector::SecureCollector(const AttemptSetup& setup,
                                 std::unique_ptr<SecureRound> secure,
                                 std::optional<EvalVectorCodec> eval_codec)
    : RoundCollector(setup.round, setup.attempt, Cohort(setup.cohort)),
      min_updates_(setup.config->min_updates),
      error_policy_(setup.config->secagg_error),
      dp_(setup.dp_plan != nullptr),
      secure_(std::move(secure)),
      protocol_config_(
          std::make_shared<const v1::SecAggConfig>(secure_->protocol_config())),
      eval_codec_(std::move(eval_codec)) {
  if (setup.evaluation != nullptr) {
    evaluate_only_ = setup.evaluation->evaluate_only;
    if (setup.evaluation->per_site) eval_.emplace(*setup.evaluation);
  }
}

void SecureCollector::DescribeTask(Task& task) const {
  task.secagg = protocol_config_;
  task.encoding = secure_->encoding();
}

absl::Status SecureCollector::SubmitUpdate(const std::string&, UpdateSubmission,
                                           const absl::Status&) {
  return absl::FailedPreconditionError(
      absl::StrCat("round ", round(),
                   " uses secure aggregation: plaintext updates are refused"));
}

absl::Status SecureCollector::AcceptsSecAgg(
    const std::string& client_id) const {
  if (!cohort().Contains(client_id)) {
    return NotSelectedError(client_id, round());
  }
  return absl::OkStatus();
}

absl::StatusOr<SecAggExchangeReply> SecureCollector::SecAggExchange(
    const std::string& client_id, const v1::SecAggClientMessage* message) {
  SecAggExchangeReply reply;
  // A retried round keeps its number, so a selected client that has not
  // fetched this attempt's task is still in an earlier attempt's session,
  // which is gone: tell it to stop (it will fetch the new task), and do not
  // count its message as an answer to this attempt.
  if (cohort().state(client_id) == ClientRoundState::kSelected) {
    reply.aborted = true;
    reply.reason = absl::StrCat("round ", round(), " was restarted (attempt ",
                                attempt(), "): fetch the new task");
    return reply;
  }
  if (message != nullptr) {
    // Once in the protocol, the client has answered this round's task: it
    // must not fetch (and train on) it again.
    cohort().Set(client_id, ClientRoundState::kAccepted);
    RETURN_IF_ERROR(secure_->HandleMessage(client_id, *message));
  }
  reply.message = secure_->PendingMessageFor(client_id);
  return reply;
}

absl::Status SecureCollector::SubmitMaskedInput(
    const std::string& client_id, std::vector<uint32_t> masked,
    std::vector<uint64_t> eval_report) {
  std::optional<SiteEvalReport> clear;
  if (eval_.has_value()) {
    absl::StatusOr<SiteEvalReport> report = eval_->Check(eval_report);
    if (!report.ok()) {
      spdlog::warn("{}: refused the masked input of {}: {}",
                   AttemptLabel(round(), attempt()), client_id,
                   report.status().message());
      return report.status();
    }
    clear = *std::move(report);
  }
  RETURN_IF_ERROR(secure_->HandleMaskedInput(client_id, masked));
  if (clear.has_value()) eval_->Keep(client_id, *std::move(clear));
  return absl::OkStatus();
}

std::vector<std::string> SecureCollector::TakePhasesEntered() {
  std::vector<std::string> entered = RoundCollector::TakePhasesEntered();
  for (std::string& phase : secure_->TakePhasesEntered())
    entered.push_back(std::move(phase));
  return entered;
}

std::vector<ClientExclusion> SecureCollector::TakeExclusions() {
  std::vector<ClientExclusion> out;
  for (BlameExclusion& e : secure_->Exclusions()) {
    out.push_back({std::move(e.client_id), std::move(e.reason)});
  }
  return out;
}

bool SecureCollector::Poll(TimePoint now) {
  status_ = secure_->Poll(now);
  return status_ != SecureRound::Status::kRunning;
}

RoundAggregate SecureCollector::Summarize(int participants) const {
  RoundAggregate out;
  out.selected = static_cast<int>(cohort().size());
  out.participants = participants;
  out.rejected = static_cast<int>(cohort().size()) - participants;
  out.secure = true;
  out.dropped = cohort().Excluding(secure_->survivors());
  return out;
}

absl::StatusOr<CollectionResult> SecureCollector::Close() {
  if (status_ == SecureRound::Status::kAborted) {
    return AttemptFailure{absl::StrCat("secure aggregation aborted: ",
                                       secure_->abort_reason().message()),
                          kAbortAdvice};
  }
  return dp_ ? ClosePrivate() : CloseMean();
}

absl::StatusOr<CollectionResult> SecureCollector::ClosePrivate() {
  const int participants = secure_->participants();
  absl::StatusOr<PrivateSum> sum = secure_->TakePrivateSum();
  if (!sum.ok() || participants < min_updates_) {
    return AttemptFailure{sum.ok() ? TooFewInputs(participants, min_updates_)
                                   : std::string(sum.status().message()),
                          kTooFewUpdatesAdvice};
  }
  RoundAggregate out = Summarize(participants);
  out.private_sum = *std::move(sum);
  return out;
}

absl::StatusOr<CollectionResult> SecureCollector::CloseMean() {
  const std::string where = AttemptLabel(round(), attempt());
  const int participants = secure_->participants();
  absl::StatusOr<std::vector<uint32_t>> sum = secure_->TakeSum();
  if (!sum.ok() || participants < min_updates_) {
    return AttemptFailure{sum.ok() ? TooFewInputs(participants, min_updates_)
                                   : std::string(sum.status().message()),
                          kTooFewUpdatesAdvice};
  }
  std::optional<CollectedEvaluation> evaluation;
  if (eval_codec_.has_value()) {
    absl::StatusOr<CollectedEvaluation> decoded = DecodeEvaluation(*sum);
    if (!decoded.ok()) {
      return AttemptFailure{std::string(decoded.status().message()),
                            kTooFewUpdatesAdvice};
    }
    evaluation = *std::move(decoded);
  }
  if (evaluate_only_) {  // the updates are zero: nothing else to decode
    RoundAggregate out = Summarize(participants);
    out.evaluation = std::move(evaluation);
    return out;
  }
  absl::StatusOr<DecodedAggregate> aggregate = secure_->DecodeUpdate(*sum);
  if (!aggregate.ok()) {
    return AttemptFailure{std::string(aggregate.status().message()),
                          kTooFewUpdatesAdvice};
  }
  // The round's own encoding, rebuilt from what its clients were sent.
  absl::StatusOr<InputEncoder> encoder =
      InputEncoder::Create(EncodingParametersFromProto(secure_->encoding()));
  if (!encoder.ok()) {
    return absl::InternalError(
        absl::StrCat("secure encoding: ", encoder.status().message()));
  }
  const QuantizationErrorBound error =
      encoder->BoundQuantizationError(*aggregate, participants);
  spdlog::info(
      "{}: secure mean of {} inputs ({} examples): quantization error <= "
      "{:.3g} per coordinate, <= {:.3g} relative (worst case), ~{:.3g} "
      "relative (RMS)",
      where, participants, aggregate->total_examples, error.max_abs_error,
      error.max_relative_error, error.rms_relative_error);
  const double allowed = error_policy_.max_relative_error;
  if (allowed > 0 && !(error.max_relative_error <= allowed)) {
    // +inf: the error bound exceeds the decoded mean itself.
    const std::string excess = absl::StrCat(
        "secure aggregation's worst-case relative quantization error ",
        std::isfinite(error.max_relative_error)
            ? absl::StrCat(error.max_relative_error)
            : std::string("(unbounded: it may exceed the mean itself)"),
        " exceeds secagg.max_relative_error ", allowed);
    const std::string advice = absl::StrCat(
        "this round already used the largest secagg.quantization_bits its "
        "cohort allows (",
        encoder->params().quantization_bits,
        "): raise secagg.modulus_bits, lower secagg.clip_range towards the "
        "updates' magnitude, or lower secagg.max_weight if one site's "
        "declared example count dwarfs the others'");
    if (error_policy_.fail) return AttemptFailure{excess, advice};
    spdlog::warn("{}: {} ({})", where, excess, advice);
  }
  RoundAggregate out = Summarize(participants);
  out.total_examples = static_cast<double>(aggregate->total_examples);
  out.train_loss = aggregate->mean_loss;
  out.quantization_error = error;
  out.update_sum = std::move(aggregate->weighted_mean).Release();
  out.evaluation = std::move(evaluation);
  return out;
}

absl::StatusOr<CollectedEvaluation> SecureCollector::DecodeEvaluation(
    absl::Span<const uint32_t> sum) {
  const size_t offset = secure_->update_length();
  if (sum.size() != offset + eval_codec_->length()) {
    return absl::InternalError("the unmasked sum has no evaluation tail");
  }
  absl::StatusOr<SiteEvalReport> decoded =
      eval_codec_->DecodeSum(sum.subspan(offset));
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the sum of the evaluation reports does not decode: ",
                     decoded.status().message()));
  }
  CollectedEvaluation out;
  const std::vector<std::string> survivors = secure_->survivors();
  if (eval_.has_value()) out = eval_->Take(&survivors);
  out.secure = true;
  out.sum = *std::move(decoded);
  if (eval_.has_value()) {
    // The clear reports are the sites' word: say so when they disagree with
    // what their masked inputs summed to.
    SiteEvalReport clear_sum = SiteEvalReport::Zero(eval_->attempt().layout);
    bool added = out.sites.size() == survivors.size();
    for (const auto& [id, report] : out.sites) {
      added = added && clear_sum.Add(report).ok();
    }
    if (!added || clear_sum != *out.sum) {
      spdlog::warn(
          "{}: the survivors' per-site evaluation reports do not add up to "
          "their securely aggregated sum; the per-site table is what the "
          "sites claimed",
          AttemptLabel(round(), attempt()));
    }
  }
  return out;
}

}  // namespace fedlearn
