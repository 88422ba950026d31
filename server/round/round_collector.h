// How one round attempt collects its clients' contributions: the interface
// the round engine drives, and what closing it yields.
//
// A collector owns the attempt's Cohort and the running aggregate. It
// validates and folds in what clients send, says when the attempt may close
// (everyone answered, or its deadline passed), and on Close() returns the
// attempt's aggregate, or why the attempt has nothing to release. It never
// calls back into the engine: starting the next attempt, releasing the
// aggregate into a model (round_release.h) and notifying listeners are the
// engine's. A new aggregation strategy is a new RoundCollector, chosen in
// StartRoundCollector(), not a branch in the engine.
//
// Implementations: PlainCollector (plaintext FedAvg, optionally DP-clipped),
// RobustCollector (plaintext median / trimmed mean / Krum, keeping every
// update) and SecureCollector (secure aggregation, optionally with DP
// encodings).
//
// Thread-compatible: the engine calls every method under its lock.
#ifndef FEDLEARN_SERVER_ROUND_ROUND_COLLECTOR_H_
#define FEDLEARN_SERVER_ROUND_ROUND_COLLECTOR_H_

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dp/private_input_codec.h"
#include "common/secagg/input_encoding.h"
#include "common/util/clock.h"
#include "common/wire/secagg_exchange.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "server/round/client_registry.h"
#include "server/round/cohort.h"
#include "server/round/dp_planner.h"
#include "server/round/federated_evaluation.h"
#include "server/round/round_engine_config.h"
#include "server/round/round_types.h"

namespace fedlearn {

// What an attempt collected. Large buffers move, never copy.
struct RoundAggregate {
  // Without DP: the model update is update_sum / divisor (a weighted sum and
  // its total weight, or an already decoded mean and 1).
  std::vector<float> update_sum;
  double divisor = 1.0;
  // DP rounds: the clipped (distributed: already noised) sum, released
  // through DpPlanner::Release; update_sum is then empty.
  std::optional<PrivateSum> private_sum;
  int selected = 0;
  int participants = 0;  // contributions in the aggregate
  int rejected = 0;
  double total_examples = std::nan("");  // NaN in DP rounds
  double train_loss = std::nan("");      // example-weighted; NaN in DP rounds
  bool secure = false;
  std::optional<QuantizationErrorBound> quantization_error;
  std::vector<std::string> dropped;  // selected but not in the aggregate
  // Attempts that carried an evaluation task: the sites' reports. In an
  // evaluation-only attempt this is all there is (update_sum is empty).
  std::optional<CollectedEvaluation> evaluation;
};

// Why an attempt has nothing to release. The engine retries the round, or
// fails the run after max_round_attempts, with `reason` (no "round R
// attempt A" prefix: the engine adds it) and `advice` (what to change).
struct AttemptFailure {
  std::string reason;
  std::string advice;
};

using CollectionResult = std::variant<RoundAggregate, AttemptFailure>;

// A selected client the attempt showed must sit out the round's remaining
// attempts (secure aggregation: a key advertisement that failed the
// coordinator's check, or blame for undecryptable key shares), and why in
// the coordinator's own words (safe to log).
struct ClientExclusion {
  std::string client_id;
  std::string reason;
};

class RoundCollector {
 public:
  RoundCollector(uint64_t round, int attempt, Cohort cohort)
      : round_(round), attempt_(attempt), cohort_(std::move(cohort)) {}
  virtual ~RoundCollector() = default;
  RoundCollector(const RoundCollector&) = delete;
  RoundCollector& operator=(const RoundCollector&) = delete;

  uint64_t round() const { return round_; }
  int attempt() const { return attempt_; }
  Cohort& cohort() { return cohort_; }
  const Cohort& cohort() const { return cohort_; }

  // Adds what a client needs to take part in this collection to its task.
  virtual void DescribeTask(Task& task) const {}
  // Whether selected `client_id` may upload (an update or a masked input)
  // now. By default: FailedPrecondition until it fetched this attempt's task
  // (an upload from a client that never fetched is refused, not counted);
  // collectors add their own "already answered" rule.
  // REQUIRES: cohort().Contains(client_id).
  virtual absl::Status CheckMayUpload(const std::string& client_id) const;
  // A selected client's plaintext update. `content` is CheckUpdateContent()
  // of it (checked outside the engine's lock: it is O(D)).
  // REQUIRES: cohort().Contains(client_id).
  virtual absl::Status SubmitUpdate(const std::string& client_id,
                                    UpdateSubmission submission,
                                    const absl::Status& content) = 0;
  // `client_id` left the run during this attempt.
  virtual void OnLeave(const std::string& client_id) {}

  // Secure aggregation. OK if `client_id` may exchange protocol messages
  // in this attempt; collectors without secure aggregation refuse with
  // NoSecureRoundError (FailedPrecondition), and the engine turns that into
  // an abort for a client of this round.
  virtual absl::Status AcceptsSecAgg(const std::string& client_id) const;
  // REQUIRES: AcceptsSecAgg(client_id) is OK. Delivers `message` (null: a
  // poll) and returns what the server has for the client now, or an abort
  // telling it to stop.
  virtual absl::StatusOr<SecAggExchangeReply> SecAggExchange(
      const std::string& client_id, const v1::SecAggClientMessage* message);
  // REQUIRES: AcceptsSecAgg(client_id) is OK. `eval_report`: the site's
  // evaluation report in the clear (per_site evaluation only; else empty).
  virtual absl::Status SubmitMaskedInput(const std::string& client_id,
                                         std::vector<uint32_t> masked,
                                         std::vector<uint64_t> eval_report);
  // Encoded length of a masked input in this attempt (0: none expected).
  virtual size_t MaskedInputLength() const { return 0; }

  // The phases the attempt entered since the last call, in order, for
  // RoundListener::OnPhaseStarted: "Training" on the first call (the
  // attempt opened), then the collector's own (SecureCollector: the
  // secure-aggregation phases).
  virtual std::vector<std::string> TakePhasesEntered() {
    if (opened_reported_) return {};
    opened_reported_ = true;
    return {"Training"};
  }

  // Who must sit out the round's remaining attempts, as far as this attempt
  // shows (none by default). Called once, before Close().
  virtual std::vector<ClientExclusion> TakeExclusions() { return {}; }
  // True when the attempt may close now.
  virtual bool Poll(TimePoint now) = 0;
  // Closes the attempt. An error is internal: the run fails.
  // REQUIRES: called once, after Poll() returned true.
  virtual absl::StatusOr<CollectionResult> Close() = 0;

 private:
  const uint64_t round_;
  const int attempt_;
  Cohort cohort_;
  bool opened_reported_ = false;  // TakePhasesEntered() said "Training"
};

// What an attempt's collector is built from.
struct AttemptSetup {
  uint64_t round = 0;
  int attempt = 0;
  std::vector<std::string> cohort;  // as sampled
  size_t dimension = 0;             // the model's number of values
  TimePoint deadline;               // for training and uploads
  const RoundEngineConfig* config = nullptr;
  // Declared example counts, for the secure encoding.
  const ClientRegistry* registry = nullptr;
  const DpRoundPlan* dp_plan = nullptr;  // null without DP
  // The attempt's evaluation task (null: none).
  const EvalAttempt* evaluation = nullptr;
};

// The collector the configuration asks for: secure aggregation when
// config->secagg.enabled, else an EvaluationOnlyCollector for a plaintext
// evaluation-only attempt, else a RobustCollector when config->robust names
// a robust rule, else plaintext FedAvg. FailedPrecondition if this cohort
// cannot be securely aggregated (its encoding or graph cannot be built).
absl::StatusOr<std::unique_ptr<RoundCollector>> StartRoundCollector(
    const AttemptSetup& setup);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_ROUND_COLLECTOR_H_
