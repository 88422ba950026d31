// Records the round engine's lifecycle in the audit trail:
//
//   round_started   {round, attempt, cohort_size, cohort[, cohort_truncated]}
//   round_released  {round, attempt, model_version, model_sha256, selected,
//                    participants, rejected, dropped[, dropped_truncated],
//                    secure[, dp: {mode, epsilon, delta, noise_multiplier,
//                    clip_norm, sampling_rate}]}
//   round_retried   {round, attempt, reason}
//   blamed          client, {round, attempt, reason}
//   run_ended       {status, message}
//
// Client ids are not secret but a cohort can be large: at most
// kMaxAuditedIds ids are listed (the size is always exact). model_sha256 is
// ModelValuesSha256 of the released model. Never an update, a model's
// values, a key or a share.
//
// Fail closed: OnRoundCompleted returns an error (which fails the run
// before any later listener publishes the round and before the engine
// hands out the next round's task) if the sink reports that it cannot
// record events. Register it after the run store, whose checkpoint commits
// the round (server/run_store.h), and before the listeners that publish.
//
// Thread-safety: called from the engine's driver thread; the sink is
// thread-safe.
#ifndef FEDLEARN_SERVER_AUDIT_AUDITING_ROUND_LISTENER_H_
#define FEDLEARN_SERVER_AUDIT_AUDITING_ROUND_LISTENER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "server/audit/audit_sink.h"
#include "server/round/round_types.h"

namespace fedlearn {

inline constexpr size_t kMaxAuditedIds = 1000;

// Lowercase hex SHA-256 of `values` as little-endian float32 bytes (the
// value bytes of the .fmodel file, without its header).
std::string ModelValuesSha256(absl::Span<const float> values);

class AuditingRoundListener final : public RoundListener {
 public:
  // `sink` is not owned and must outlive the listener.
  explicit AuditingRoundListener(AuditSink* sink) : sink_(sink) {}

  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override;
  void OnRoundRetried(uint64_t round, int attempt,
                      const std::string& reason) override;
  void OnRunEnded(const absl::Status& outcome) override;
  void OnRoundStarted(uint64_t round, int attempt,
                      const std::vector<std::string>& cohort) override;
  void OnClientBlamed(uint64_t round, int attempt, const std::string& client_id,
                      const std::string& reason) override;

 private:
  AuditSink* const sink_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_AUDIT_AUDITING_ROUND_LISTENER_H_
