#include "server/round/secure_round.h"

#include <map>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/secagg/graph.h"
#include "common/secagg/secagg_config.h"
#include "common/util/escape.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// Logs as the default listener does, and records what the engine acts on.
class IncidentRecordingListener final : public SecAggServerListener {
 public:
  IncidentRecordingListener(uint64_t round, SecureRound::Incidents* incidents)
      : log_(round), incidents_(incidents) {}
  void OnPhaseClosed(SecAggServerPhase phase,
                     const std::vector<std::string>& dropouts) override {
    log_.OnPhaseClosed(phase, dropouts);
  }
  void OnPhaseEntered(SecAggServerPhase phase,
                      SecAggServerPhase previous) override {
    log_.OnPhaseEntered(phase, previous);
    if (phase != SecAggServerPhase::kCompleted &&
        phase != SecAggServerPhase::kAborted) {
      incidents_->phases_entered.push_back(SecAggServerPhaseName(phase));
    }
  }
  void OnClientExcluded(const std::string& client_id) override {
    log_.OnClientExcluded(client_id);
  }
  void OnClientAborted(const std::string& client_id, SecAggServerPhase phase,
                       std::string_view reason) override {
    log_.OnClientAborted(client_id, phase, reason);
  }
  void OnRoundAborted(std::string_view reason) override {
    log_.OnRoundAborted(reason);
  }
  void OnAdvertisementRejected(const std::string& client_id,
                               std::string_view reason) override {
    log_.OnAdvertisementRejected(client_id, reason);
    incidents_->rejected_advertisements.push_back(
        {client_id,
         absl::StrCat(
             "its secure-aggregation key advertisement failed the "
             "coordinator's check: ",
             EscapeUntrusted(absl::string_view(reason.data(), reason.size()),
                             300))});
  }
  void OnBlameLodged(const std::string& accuser,
                     const std::vector<std::string>& blamed,
                     int ignored) override {
    log_.OnBlameLodged(accuser, blamed, ignored);
    for (const std::string& id : blamed)
      incidents_->blame.push_back({accuser, id});
  }

 private:
  LoggingSecAggServerListener log_;
  SecureRound::Incidents* const incidents_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SecureRound>> SecureRound::Start(
    const SecAggRoundConfig& config, uint64_t round, int attempt,
    std::vector<std::string> cohort, size_t dimension,
    TimePoint training_deadline, const v1::DpTaskConfig* dp,
    size_t tail_length) {
  const int n = static_cast<int>(cohort.size());
  ASSIGN_OR_RETURN(
      const GraphParameters graph,
      ChooseGraphParameters(n, config.dropout_rate, config.security_bits));
  ASSIGN_OR_RETURN(InputEncoder encoder,
                   InputEncoder::Create(config.Encoding(n)));

  std::unique_ptr<SecureRound> r(
      new SecureRound(config, dimension, tail_length, std::move(encoder)));
  v1::SecAggEncoding& pe = r->encoding_proto_;
  pe.set_modulus_bits(config.modulus_bits);
  pe.set_quantization_bits(config.quantization_bits);
  pe.set_clip_range(config.clip_range);
  pe.set_max_weight(config.max_weight);
  pe.set_max_clients(n);
  if (dp != nullptr) {
    ASSIGN_OR_RETURN(r->dp_codec_,
                     PrivateInputCodec::Create(*dp, pe, dimension));
  }
  ASSIGN_OR_RETURN(std::string session_id, NewSecAggSessionId());
  v1::SecAggConfig& pc = r->protocol_config_;
  pc.set_session_id(session_id);
  pc.set_round(round);
  for (std::string& id : cohort) pc.add_cohort(std::move(id));
  pc.set_degree(graph.degree);
  pc.set_threshold(graph.threshold);
  pc.set_modulus_bits(config.modulus_bits);
  pc.set_vector_length(r->encoded_length());
  if (dp != nullptr && dp->mode() == v1::DpTaskConfig::DISTRIBUTED) {
    pc.set_min_survivors(dp->min_clients());
  }

  SecAggServerEnvironment environment;
  environment.listener =
      std::make_unique<IncidentRecordingListener>(round, &r->incidents_);
  if (!config.ca_pem.empty()) {
    // Parsed per attempt (microseconds beside a round); every advertisement
    // of the attempt is checked against this one trust store.
    ASSIGN_OR_RETURN(environment.verifier,
                     CertificateAdvertisementVerifier::Create(config.ca_pem));
  }
  ASSIGN_OR_RETURN(r->server_,
                   SecAggServer::Create(pc, std::move(environment)));
  r->phase_deadline_ = training_deadline;
  // The session id is public (every cohort member receives it); its first
  // 8 bytes in the log let an operator (and the crash-loop test) tell one
  // attempt's session from another's.
  spdlog::info(
      "round {} attempt {}: secure aggregation over {} clients, {} graph "
      "(k={}, t={}), b={}, session {}",
      round, attempt, n, graph.full_graph() ? "full" : "SecAgg+", graph.degree,
      graph.threshold, config.modulus_bits,
      absl::BytesToHexString(pc.session_id().substr(0, 8)));
  return r;
}

absl::Status SecureRound::HandleMessage(
    const std::string& client_id, const v1::SecAggClientMessage& message) {
  RETURN_IF_ERROR(server_->HandleMessage(client_id, message));
  if (message.has_advertise_keys() && !advertised_) {
    advertised_ = true;
    incidents_.phases_entered.push_back(
        SecAggServerPhaseName(SecAggServerPhase::kAdvertiseKeys));
  }
  return absl::OkStatus();
}

absl::Status SecureRound::HandleMaskedInput(const std::string& client_id,
                                            absl::Span<const uint32_t> masked) {
  return server_->HandleMaskedInput(client_id, masked);
}

std::optional<v1::SecAggServerMessage> SecureRound::PendingMessageFor(
    const std::string& client_id) const {
  return server_->PendingMessageFor(client_id);
}

SecureRound::Status SecureRound::Poll(TimePoint now) {
  using Phase = SecAggServer::Phase;
  while (true) {
    const Phase phase = server_->phase();
    if (phase == Phase::kCompleted) return Status::kCompleted;
    if (phase == Phase::kAborted) return Status::kAborted;
    if (!server_->AllResponded() && now < phase_deadline_)
      return Status::kRunning;
    const std::string closing = server_->phase_name();
    const bool everyone = server_->AllResponded();
    absl::Status s = server_->AdvancePhase();
    spdlog::info("secure aggregation: {} closed{}", closing,
                 everyone ? "" : " at its deadline (non-responders dropped)");
    if (!s.ok()) spdlog::warn("secure aggregation: {}", s.message());
    phase_deadline_ = now + config_.phase_timeout;
  }
}

absl::Status SecureRound::abort_reason() const {
  return server_->abort_reason();
}

absl::StatusOr<DecodedAggregate> SecureRound::TakeAggregate() {
  ASSIGN_OR_RETURN(const std::vector<uint32_t> sum, server_->TakeResult());
  return DecodeUpdate(sum);
}

absl::StatusOr<std::vector<uint32_t>> SecureRound::TakeSum() {
  return server_->TakeResult();
}

absl::StatusOr<DecodedAggregate> SecureRound::DecodeUpdate(
    absl::Span<const uint32_t> sum) const {
  if (sum.size() < update_length()) {
    return absl::InternalError("the unmasked sum is shorter than an update");
  }
  return encoder_.Decode(sum.subspan(0, update_length()));
}

absl::StatusOr<PrivateSum> SecureRound::TakePrivateSum() {
  if (!dp_codec_) {
    return absl::FailedPreconditionError("this secure round is not a DP round");
  }
  ASSIGN_OR_RETURN(const std::vector<uint32_t> sum, server_->TakeResult());
  return dp_codec_->Decode(
      absl::MakeConstSpan(sum).subspan(0, update_length()));
}

std::vector<std::string> SecureRound::TakePhasesEntered() {
  std::vector<std::string> entered = std::move(incidents_.phases_entered);
  incidents_.phases_entered.clear();
  return entered;
}

std::vector<std::string> SecureRound::survivors() const {
  return server_->Survivors();
}

int SecureRound::participants() const {
  return static_cast<int>(server_->Survivors().size());
}

}  // namespace fedlearn

namespace fedlearn {

std::vector<BlameExclusion> SecureRound::Exclusions() const {
  std::map<std::string, std::string> by_id;
  for (const BlameExclusion& e : incidents_.rejected_advertisements)
    by_id.emplace(e.client_id, e.reason);
  for (BlameExclusion& e : ResolveBlame(incidents_.blame))
    by_id.emplace(std::move(e.client_id), std::move(e.reason));
  std::vector<BlameExclusion> out;
  for (auto& [id, reason] : by_id) out.push_back({id, std::move(reason)});
  return out;
}

}  // namespace fedlearn
