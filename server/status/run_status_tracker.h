// What a running coordinator tells its operator (fedlearn-status, the Admin
// RPC): a RoundListener that keeps a snapshot of the run from the engine's
// hooks (the open attempt, its phase and cohort size, the last released
// round's aggregates, the outcome), plus ApplyEngineView, which overlays the
// engine's own counts (registered and live clients, epsilon spent) read at
// query time.
//
// Guarantees: the snapshot holds counts and aggregates only; no client id,
// update or key is kept (a cohort is reduced to its size on arrival).
// A phase is shown only for the attempt it belongs to, so a stale phase of
// an earlier attempt never shows beside a newer one, whatever order the
// hooks arrive in (OnPhaseStarted comes from any thread with the engine's
// lock held, OnRoundStarted from the driver thread after it).
//
// Thread-safety: thread-safe. Every hook is cheap and never blocks on
// anything but the tracker's own mutex; it never calls into the engine.
#ifndef FEDLEARN_SERVER_STATUS_RUN_STATUS_TRACKER_H_
#define FEDLEARN_SERVER_STATUS_RUN_STATUS_TRACKER_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/util/clock.h"
#include "server/round/round_engine.h"
#include "server/round/round_types.h"

namespace fedlearn {

enum class RunState { kWaitingForClients, kRunning, kFinished, kFailed };

// "waiting_for_clients", "running", "finished", "failed".
const char* RunStateName(RunState state);

// The last round released while this tracker listened.
struct CompletedRoundStatus {
  uint64_t round = 0;
  int attempt = 0;
  int selected = 0;
  int participants = 0;
  int dropped = 0;
  int rejected = 0;
  std::optional<double> test_accuracy;
  std::optional<double> test_loss;
  double seconds = 0;
  bool secure = false;
  std::optional<double> epsilon;  // DP rounds: cumulative, after it
};

struct RunStatus {
  std::string run_id;
  std::string coordinator_version;
  RunState state = RunState::kWaitingForClients;
  uint64_t round = 0;  // being run or next to run; 0: none seen yet
  int attempt = 0;
  std::string phase;  // of the open attempt; "" when none is open
  size_t clients_registered = 0;
  size_t clients_live = 0;
  int clients_selected = 0;  // in the current attempt
  int rounds_configured = 0;
  uint64_t rounds_completed = 0;
  bool dp = false;
  double epsilon_spent = 0;
  double epsilon_budget = 0;  // 0: none
  double delta = 0;
  std::optional<CompletedRoundStatus> last_round;
  double uptime_seconds = 0;
  std::string finished_reason;
  std::string failure;
};

class RunStatusTracker final : public RoundListener {
 public:
  struct Options {
    std::string run_id;
    std::string coordinator_version;
    int num_rounds = 0;
    // The first round this process runs (resumed runs start later).
    uint64_t start_round = 1;
    const Clock* clock = nullptr;  // not owned; null: the system clock
  };

  explicit RunStatusTracker(Options options);

  absl::Status OnRoundCompleted(const RoundSummary& summary,
                                const FlatModel& global) override;
  void OnRoundRetried(uint64_t round, int attempt,
                      const std::string& reason) override;
  void OnRunEnded(const absl::Status& outcome) override;
  void OnRoundStarted(uint64_t round, int attempt,
                      const std::vector<std::string>& cohort) override;
  void OnPhaseStarted(uint64_t round, int attempt,
                      const std::string& phase) override;

  // What the hooks said so far (counts from the engine are not in it: see
  // ApplyEngineView).
  RunStatus Snapshot() const;

 private:
  // An attempt, ordered by (round, attempt).
  struct AttemptRef {
    uint64_t round = 0;
    int attempt = 0;
    bool operator<(const AttemptRef& o) const {
      return round != o.round ? round < o.round : attempt < o.attempt;
    }
    bool operator==(const AttemptRef& o) const {
      return round == o.round && attempt == o.attempt;
    }
  };

  const Options options_;
  SystemClock system_clock_;
  const Clock* const clock_;
  const TimePoint started_;

  mutable std::mutex mu_;
  // The latest attempt opened (OnRoundStarted) and its cohort size.
  AttemptRef started_attempt_ ABSL_GUARDED_BY(mu_);
  int selected_ ABSL_GUARDED_BY(mu_) = 0;
  // The latest phase reported, and the attempt it belongs to.
  AttemptRef phase_attempt_ ABSL_GUARDED_BY(mu_);
  std::string phase_ ABSL_GUARDED_BY(mu_);
  // The latest round released (0: none) and its aggregates.
  uint64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<CompletedRoundStatus> last_round_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  std::string failure_ ABSL_GUARDED_BY(mu_);
};

// Overlays what only the engine knows (its state machine's phase, round and
// attempt, the membership counts, the privacy ledger, why the run ended) on
// `status`. The phase string is kept only if it belongs to the engine's
// current attempt and an attempt is open.
void ApplyEngineView(const RoundEngine::StatusView& view, RunStatus* status);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_STATUS_RUN_STATUS_TRACKER_H_
