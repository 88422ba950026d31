#include "server/secure_round.h"

#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "common/secagg/graph.h"
#include "common/util/log.h"

namespace fedlearn {

absl::Status SecAggRoundConfig::Validate() const {
  if (!enabled) return absl::OkStatus();
  if (absl::StatusOr<InputEncoder> e = InputEncoder::Create(Encoding(3));
      !e.ok()) {
    return e.status();
  }
  if (absl::StatusOr<GraphParameters> g =
          ChooseGraphParameters(3, dropout_rate, security_bits);
      !g.ok()) {
    return g.status();
  }
  if (phase_timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        "secagg.phase_timeout_s must be positive");
  }
  return absl::OkStatus();
}

EncodingParameters SecAggRoundConfig::Encoding(int max_clients) const {
  EncodingParameters p;
  p.modulus_bits = modulus_bits;
  p.quantization_bits = quantization_bits;
  p.clip_range = clip_range;
  p.max_weight = max_weight;
  p.max_clients = max_clients;
  return p;
}

absl::StatusOr<std::unique_ptr<SecureRound>> SecureRound::Start(
    const SecAggRoundConfig& config, uint64_t round, int attempt,
    std::vector<std::string> cohort, size_t dimension,
    TimePoint training_deadline, const v1::DpTaskConfig* dp) {
  const int n = static_cast<int>(cohort.size());
  absl::StatusOr<GraphParameters> graph =
      ChooseGraphParameters(n, config.dropout_rate, config.security_bits);
  if (!graph.ok()) return graph.status();
  absl::StatusOr<InputEncoder> encoder =
      InputEncoder::Create(config.Encoding(n));
  if (!encoder.ok()) return encoder.status();

  std::unique_ptr<SecureRound> r(
      new SecureRound(config, dimension, *std::move(encoder)));
  v1::SecAggEncoding& pe = r->encoding_proto_;
  pe.set_modulus_bits(config.modulus_bits);
  pe.set_quantization_bits(config.quantization_bits);
  pe.set_clip_range(config.clip_range);
  pe.set_max_weight(config.max_weight);
  pe.set_max_clients(n);
  if (dp != nullptr) {
    absl::StatusOr<PrivateInputCodec> codec =
        PrivateInputCodec::Create(*dp, pe, dimension);
    if (!codec.ok()) return codec.status();
    r->dp_codec_ = *std::move(codec);
  }
  std::string session_id(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(session_id.data()), 32) !=
      1) {
    return absl::InternalError("OS random generator failed");
  }
  v1::SecAggConfig& pc = r->protocol_config_;
  pc.set_session_id(session_id);
  pc.set_round(round);
  for (std::string& id : cohort) pc.add_cohort(std::move(id));
  pc.set_degree(graph->degree);
  pc.set_threshold(graph->threshold);
  pc.set_modulus_bits(config.modulus_bits);
  pc.set_vector_length(r->encoded_length());
  if (dp != nullptr && dp->mode() == v1::DpTaskConfig::DISTRIBUTED) {
    pc.set_min_survivors(dp->min_clients());
  }

  absl::StatusOr<std::unique_ptr<SecAggServer>> server =
      SecAggServer::Create(pc);
  if (!server.ok()) return server.status();
  r->server_ = *std::move(server);
  r->phase_deadline_ = training_deadline;
  spdlog::info(
      "round {} attempt {}: secure aggregation over {} clients, {} graph "
      "(k={}, t={}), b={}",
      round, attempt, n, graph->full_graph() ? "full" : "SecAgg+",
      graph->degree, graph->threshold, config.modulus_bits);
  return r;
}

absl::Status SecureRound::HandleMessage(
    const std::string& client_id, const v1::SecAggClientMessage& message) {
  return server_->HandleMessage(client_id, message);
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
  absl::StatusOr<std::vector<uint32_t>> sum = server_->TakeResult();
  if (!sum.ok()) return sum.status();
  return encoder_.Decode(*sum);
}

absl::StatusOr<PrivateSum> SecureRound::TakePrivateSum() {
  if (!dp_codec_) {
    return absl::FailedPreconditionError("this secure round is not a DP round");
  }
  absl::StatusOr<std::vector<uint32_t>> sum = server_->TakeResult();
  if (!sum.ok()) return sum.status();
  return dp_codec_->Decode(*sum);
}

std::vector<std::string> SecureRound::survivors() const {
  return server_->Survivors();
}

int SecureRound::participants() const {
  return static_cast<int>(server_->Survivors().size());
}

}  // namespace fedlearn
