// The coordinator's round engine: a transport-free state machine that runs R
// rounds of federated averaging.
//
//   WaitingForClients -> Training(round r, attempt a) -> Closing -> ...
//                                                     -> Finished | Failed
//
// In each round it samples clients (seeded), hands each selected client the
// global model and training config, folds accepted updates into a running
// weighted sum, and closes the round when every selected client has answered
// or the deadline passes. With at least `min_updates` accepted updates the
// round is aggregated, evaluated and handed to the listeners (persistence,
// reporting); with fewer it is retried with a fresh sample, and after
// `max_round_attempts` the run fails with a message saying why. A round is
// never averaged over nobody.
//
// Time comes from an injected Clock and the engine does no I/O of its own, so
// every deadline and dropout is tested without sockets or sleeps. The
// secure-aggregation phases slot in between collection and aggregation.
//
// Thread-safety: Register/FetchTask/SubmitUpdate/Heartbeat may be called from
// any number of transport threads; Tick() from one driver thread only.
#ifndef FEDLEARN_SERVER_ROUND_ENGINE_H_
#define FEDLEARN_SERVER_ROUND_ENGINE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/training_config.h"
#include "common/flat/flat_vector.h"
#include "common/util/clock.h"
#include "server/dp_planner.h"
#include "server/fedavg_aggregator.h"
#include "server/model_evaluator.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "server/secure_round.h"

namespace fedlearn {

struct RoundEngineConfig {
  std::string run_id = "run";
  int num_rounds = 10;
  // Registered, live clients needed before a round starts.
  int min_clients = 2;
  // Clients sampled per round: a count if > 0, else `fraction` of live ones.
  int clients_per_round = 0;
  double fraction = 1.0;
  // Accepted updates needed to aggregate a round.
  int min_updates = 1;
  Duration round_timeout{std::chrono::minutes(5)};
  int max_round_attempts = 3;
  // A client not heard from for this long is not sampled.
  Duration client_liveness{std::chrono::minutes(2)};
  uint64_t seed = 0;
  TrainingConfig training;
  // Upper bound on the example count (FedAvg weight) one client may claim.
  uint64_t max_examples_per_update = 10'000'000;
  // global += server_learning_rate * weighted mean of deltas.
  double server_learning_rate = 1.0;
  // Hint sent to clients with nothing to do.
  uint32_t poll_interval_ms = 200;
  size_t max_registered_clients = 100'000;
  // Secure aggregation (on by default): the coordinator learns only the sum.
  // Without DP each round encodes with ChooseCohortEncoding()
  // (common/secagg/input_encoding.h): secagg.quantization_bits is a floor
  // and secagg.max_weight a cap on the round's max_weight.
  SecAggRoundConfig secagg;
  // Secure rounds without DP: what to do when the decoded mean's worst-case
  // relative quantization error (QuantizationErrorBound::max_relative_error)
  // exceeds `max_relative_error` (0 disables): warn, or fail the attempt
  // (retried like any failed attempt).
  struct SecAggErrorPolicy {
    double max_relative_error = 0.01;
    bool fail = false;
  };
  SecAggErrorPolicy secagg_error;
  // Differential privacy (off by default). When on, clients are sampled by
  // Poisson sampling at dp.sampling_rate (clients_per_round and fraction are
  // ignored) and every update has weight 1 (DP-FedAvg).
  DpConfig dp;
  // Restored privacy ledger and clip norm when resuming a run.
  DpState dp_state;
  // The run's contract (model definition, data schema), handed to every
  // client before it registers; run_id is filled in by the engine.
  v1::RunContract contract;
  // A second process registering with an identity whose session was heard
  // from within this window is refused (two processes sharing a
  // certificate); after it, the new session takes over (a restarted client).
  Duration session_takeover{std::chrono::seconds(15)};

  absl::Status Validate() const;
};

// A unit of work for one selected client. The model is shared, not copied,
// between all clients of a round.
struct Task {
  std::string run_id;
  uint64_t round = 0;
  uint64_t model_version = 0;
  std::shared_ptr<const FlatModel> model;
  TrainingConfig training;
  int64_t deadline_unix_ms = 0;
  // Set when the round uses secure aggregation.
  std::shared_ptr<const v1::SecAggConfig> secagg;
  v1::SecAggEncoding encoding;
  // Set when the round is differentially private.
  std::shared_ptr<const v1::DpTaskConfig> dp;
  // Digest of the run contract the task belongs to.
  std::string contract_digest;
};

// What a client must agree to before it registers (RunContract) and its
// digest.
struct ContractOffer {
  v1::RunContract contract;
  std::string digest;
};

// A client that left the run, and why (RoundEngine::Leave).
struct DepartedClient {
  std::string client_id;
  bool permanent = false;  // cannot take part in this run (e.g. its data)
  std::string reason;      // escaped and truncated: client-supplied
};

struct SecAggExchangeReply {
  std::optional<v1::SecAggServerMessage> message;
  uint32_t retry_after_ms = 0;
  bool aborted = false;
  std::string reason;
};

struct FetchOutcome {
  std::optional<Task> task;
  bool run_finished = false;
  bool run_failed = false;  // with run_finished
  uint32_t retry_after_ms = 0;
  std::string reason;  // why there is no task
};

struct UpdateSubmission {
  std::string run_id;
  uint64_t round = 0;
  uint64_t model_version = 0;
  uint64_t num_examples = 0;
  double train_loss = 0.0;
  FlatVector delta;
};

struct RoundSummary {
  std::string run_id;
  uint64_t round = 0;
  int attempt = 1;
  int selected = 0;
  int participants = 0;  // accepted updates
  int rejected = 0;
  double train_loss = 0.0;  // example-weighted mean of client-reported loss
  double total_examples = 0.0;
  double seconds = 0.0;  // from round start to aggregated model
  bool secure = false;  // aggregated with secure aggregation
  // Secure rounds without DP: the bound on the decoded mean's quantization
  // error (total_examples is then an exact integer).
  std::optional<QuantizationErrorBound> quantization_error;
  uint64_t model_version = 0;
  // Selected clients whose update is not in the aggregate (rejected, silent,
  // left, or not a secure-aggregation survivor), sorted.
  std::vector<std::string> dropped;
  // Every site that left the run permanently so far, with its reason.
  std::vector<DepartedClient> failed_sites;
  std::optional<EvalMetrics> eval;
  // Differentially private rounds: what was spent and the state to persist.
  struct Dp {
    std::string mode;
    double epsilon = 0;  // cumulative, after this round
    double delta = 0;
    double noise_multiplier = 0;
    double sampling_rate = 0;
    double expected_clients = 0;
    double clip_norm = 0;
    double unclipped_fraction = 0;  // NaN unless adaptive clipping
    DpState state;  // ledger and next clip norm
  };
  std::optional<Dp> dp;
};

// Notified, in registration order, after each aggregated round (outside the
// engine lock). An error from a listener fails the run: a round that cannot
// be persisted must not be built upon.
class RoundListener {
 public:
  virtual ~RoundListener() = default;
  virtual absl::Status OnRoundCompleted(const RoundSummary& summary,
                                        const FlatModel& global) = 0;
  virtual void OnRoundRetried(uint64_t round, int attempt,
                              const std::string& reason) {}
  virtual void OnRunEnded(const absl::Status& outcome) {}
};

class RoundEngine {
 public:
  enum class Phase {
    kWaitingForClients,
    kTraining,
    kClosing,
    kFinished,
    kFailed
  };

  // `initial` is the model of version `start_round - 1` (resuming a run starts
  // after the last persisted round). `evaluator` may be null.
  static absl::StatusOr<std::unique_ptr<RoundEngine>> Create(
      RoundEngineConfig config, FlatModel initial, uint64_t start_round,
      const Clock* clock, ModelEvaluator* evaluator);

  RoundEngine(const RoundEngine&) = delete;
  RoundEngine& operator=(const RoundEngine&) = delete;

  void AddListener(RoundListener* listener);

  ContractOffer GetContract() const;
  // `contract_digest` must name the run's contract (empty: not checked, for
  // in-process callers; the gRPC service always passes the client's).
  // AlreadyExists while another session of `client_id` is live.
  absl::Status Register(const std::string& client_id, uint64_t num_examples,
                        const std::string& contract_digest = "",
                        const std::string& session_id = "");
  // The client leaves: it is no longer sampled, and if it was selected for
  // the open plaintext round it counts as answered. A permanent departure is
  // recorded (departures()) and logged as a failed site. A later Register
  // brings the client back. `reason` is client-supplied and sanitised here.
  absl::Status Leave(const std::string& client_id,
                     const std::string& session_id, bool permanent,
                     const std::string& reason);
  // Every client that left permanently, latest reason per client.
  std::vector<DepartedClient> departures() const;
  absl::Status Heartbeat(const std::string& client_id);
  absl::StatusOr<FetchOutcome> FetchTask(const std::string& client_id);
  // Validates and folds the update into the running sum. Any rejection of a
  // selected client's update counts as its answer for this round.
  absl::Status SubmitUpdate(const std::string& client_id,
                            UpdateSubmission submission);

  // Secure aggregation: delivers `message` (may be null: a poll) and returns
  // what the server has for this client now.
  absl::StatusOr<SecAggExchangeReply> SecAggExchange(
      const std::string& client_id, const std::string& run_id, uint64_t round,
      const v1::SecAggClientMessage* message);
  // Secure aggregation: a masked input (the encoded length, values < 2^b).
  absl::Status SubmitMaskedInput(const std::string& client_id,
                                 const std::string& run_id, uint64_t round,
                                 std::vector<uint32_t> masked);
  // Encoded length of a masked input in the open secure round, else 0.
  size_t MaskedInputLength() const;
  // Wire width of a masked value (2 or 4 bytes) for this run.
  int MaskedValueBytes() const { return fedlearn::MaskedValueBytes(config_.secagg.modulus_bits); }

  // Records that a selected client's upload for `round` was malformed (so the
  // round need not wait for it). Ignored unless it matches the open round.
  void RejectUpdate(const std::string& client_id, const std::string& run_id,
                    uint64_t round, const absl::Status& why);

  // Advances the state machine: starts rounds, closes them at their deadline
  // or when everyone answered, aggregates, retries or fails.
  void Tick();
  // Runs Tick() until the run ends or `stop` is set, waking early when an
  // update arrives. Returns the run's outcome.
  absl::Status RunUntilDone(const std::atomic<bool>& stop,
                            Duration tick = std::chrono::milliseconds(100));

  Phase phase() const;
  uint64_t current_round() const;
  uint64_t model_version() const;
  std::string run_id() const { return config_.run_id; }
  const ModelSpec& spec() const { return spec_; }
  absl::Status outcome() const;
  // Why an OK run ended before its configured last round ("" otherwise).
  std::string finished_reason() const;
  std::shared_ptr<const FlatModel> global_model() const;

 private:
  enum class ClientRoundState { kSelected, kTaskSent, kAccepted, kRejected };
  struct ClientRecord {
    TimePoint last_seen;
    uint64_t num_examples = 0;
    std::string session_id;
    bool left = false;  // Leave() since the last Register()
  };

  RoundEngine(RoundEngineConfig config, FlatModel initial, uint64_t start_round,
              const Clock* clock, ModelEvaluator* evaluator,
              std::unique_ptr<DpPlanner> dp);

  std::vector<std::string> LiveClientsLocked() const;
  // Registered clients missing from `live`, with why ("left: ...", "silent
  // for N s"), at most ten named.
  std::string DescribeAbsentClientsLocked(
      const std::vector<std::string>& live) const;
  bool TryStartRoundLocked();
  bool RoundCompleteLocked() const;
  // Called with the lock held; releases it while evaluating and persisting.
  void CloseRound(std::unique_lock<std::mutex>& lock);
  void CloseSecureRound(std::unique_lock<std::mutex>& lock,
                        SecureRound::Status status);
  void FinishRoundLocked(std::unique_lock<std::mutex>& lock, FlatModel next,
                         RoundSummary summary);
  // DP rounds: releases `sum` through the planner into the next model, or
  // retries the round if it may not be released.
  void ReleaseDpRoundLocked(std::unique_lock<std::mutex>& lock, PrivateSum sum,
                            RoundSummary summary);
  // Without DP: clients_per_round (or fraction of `live`), within [1, live].
  size_t FixedCohortSize(size_t live) const;
  std::vector<std::string> SampleCohortLocked(std::vector<std::string> live);
  // global + server_learning_rate * update (update has the model's size).
  FlatModel NextGlobalLocked(absl::Span<const float> update) const;
  void RetryOrFailLocked(std::unique_lock<std::mutex>& lock,
                         const std::string& reason, const std::string& advice);
  absl::Status CheckSecureRoundLocked(const std::string& client_id,
                                      const std::string& run_id,
                                      uint64_t round) const;
  // `finished_early` (with an OK outcome): why the run ended before its
  // last round, e.g. the privacy budget.
  void EndRunLocked(absl::Status outcome, std::string finished_early = "");
  void TouchLocked(const std::string& client_id);

  const RoundEngineConfig config_;
  const Clock* const clock_;
  ModelEvaluator* const evaluator_;
  const ModelSpec spec_;
  const size_t dimension_;
  const ContractOffer contract_;
  std::vector<RoundListener*> listeners_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  Phase phase_ = Phase::kWaitingForClients;
  absl::Status outcome_;
  std::string finished_reason_;
  uint64_t round_;  // the round being run or next to run
  int attempt_ = 0;
  std::shared_ptr<const FlatModel> global_;
  std::map<std::string, ClientRecord> clients_;
  std::map<std::string, DepartedClient> departures_;  // permanent ones
  std::map<std::string, ClientRoundState> cohort_;
  FedAvgAggregator aggregator_;
  double loss_sum_ = 0.0;  // sum of weight * reported loss
  int rejected_ = 0;
  TimePoint round_started_;
  TimePoint round_deadline_;
  int64_t deadline_unix_ms_ = 0;
  std::string waiting_reason_;
  std::unique_ptr<SecureRound> secure_round_;
  std::unique_ptr<DpPlanner> dp_;
  std::optional<DpRoundPlan> dp_plan_;
  std::shared_ptr<const v1::DpTaskConfig> dp_task_;
  double dp_indicator_sum_ = 0;  // plaintext DP rounds: sum of +-1
  std::shared_ptr<const v1::SecAggConfig> secagg_config_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_ENGINE_H_
