#include "server/audit/auditing_round_listener.h"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/flat/flat_vector.h"
#include "common/util/escape.h"

namespace fedlearn {
namespace {

using json = nlohmann::json;

// Ids are coordinator-held but may be client-claimed (insecure mode).
std::string AuditedId(const std::string& id) {
  return EscapeUntrusted(id, 128);
}

// At most kMaxAuditedIds of `ids` into details[key], flagging a cut.
void PutIds(const std::vector<std::string>& ids, const std::string& key,
            json& details) {
  json list = json::array();
  const size_t kept = std::min(ids.size(), kMaxAuditedIds);
  for (size_t i = 0; i < kept; ++i) list.push_back(AuditedId(ids[i]));
  details[key] = std::move(list);
  if (kept < ids.size()) details[key + "_truncated"] = true;
}

}  // namespace

std::string ModelValuesSha256(absl::Span<const float> values) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                              EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  constexpr size_t kChunk = 16384;  // floats per digest update
  std::string bytes;
  for (size_t i = 0; i < values.size(); i += kChunk) {
    bytes.clear();
    AppendFloat32LE(values.subspan(i, kChunk), &bytes);
    EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &md_len);
  std::string hex;
  for (unsigned int i = 0; i < md_len; ++i) {
    absl::StrAppend(&hex, absl::Hex(md[i], absl::kZeroPad2));
  }
  return hex;
}

absl::Status AuditingRoundListener::OnRoundCompleted(const RoundSummary& s,
                                                     const FlatModel& global) {
  json details = {{"round", s.round},
                  {"attempt", s.attempt},
                  {"model_version", s.model_version},
                  {"model_sha256", ModelValuesSha256(global.values.span())},
                  {"selected", s.selected},
                  {"participants", s.participants},
                  {"rejected", s.rejected},
                  {"secure", s.secure}};
  PutIds(s.dropped, "dropped", details);
  if (s.dp.has_value()) {
    details["dp"] = {{"mode", s.dp->mode},
                     {"epsilon", s.dp->epsilon},
                     {"delta", s.dp->delta},
                     {"noise_multiplier", s.dp->noise_multiplier},
                     {"clip_norm", s.dp->clip_norm},
                     {"sampling_rate", s.dp->sampling_rate}};
  }
  sink_->Record(AuditEvent{"round_released", "", std::move(details)});
  if (absl::Status health = sink_->status(); !health.ok()) {
    return absl::DataLossError(absl::StrCat(
        "round ", s.round, " is not released: the audit log cannot record it (",
        health.message(), ")"));
  }
  return absl::OkStatus();
}

void AuditingRoundListener::OnRoundRetried(uint64_t round, int attempt,
                                           const std::string& reason) {
  sink_->Record(
      AuditEvent{"round_retried",
                 "",
                 {{"round", round}, {"attempt", attempt}, {"reason", reason}}});
}

void AuditingRoundListener::OnRunEnded(const absl::Status& outcome) {
  sink_->Record(
      AuditEvent{"run_ended",
                 "",
                 {{"status", absl::StatusCodeToString(outcome.code())},
                  {"message", std::string(outcome.message())}}});
}

void AuditingRoundListener::OnRoundStarted(
    uint64_t round, int attempt, const std::vector<std::string>& cohort) {
  json details = {
      {"round", round}, {"attempt", attempt}, {"cohort_size", cohort.size()}};
  PutIds(cohort, "cohort", details);
  sink_->Record(AuditEvent{"round_started", "", std::move(details)});
}

void AuditingRoundListener::OnClientBlamed(uint64_t round, int attempt,
                                           const std::string& client_id,
                                           const std::string& reason) {
  sink_->Record(
      AuditEvent{"blamed",
                 AuditedId(client_id),
                 {{"round", round}, {"attempt", attempt}, {"reason", reason}}});
}

}  // namespace fedlearn
