// The round engine's boundary types: what it hands out (Task, FetchOutcome,
// ContractOffer), what it takes in (UpdateSubmission), what it reports
// (RoundSummary, DepartedClient) and whom it reports to (RoundListener).
// Storage (server/run_store.h), the gRPC service and the coordinator
// include this header, not the engine's.
//
// Mirror types on the client (client/coordinator_transport.h): Task has
// ReceivedTask and FetchOutcome has FetchReply. They are deliberately not
// shared: the engine shares one immutable model between every task of a
// round (shared_ptr) and keeps protocol configs by pointer, while the client
// owns a decoded copy. SecAggExchangeReply is identical on both sides and is
// defined once, in common/wire/secagg_exchange.h.
//
// Value types; thread-compatible. RoundListener implementations are called
// from the engine's driver thread, outside the engine's lock.
#ifndef FEDLEARN_SERVER_ROUND_ROUND_TYPES_H_
#define FEDLEARN_SERVER_ROUND_ROUND_TYPES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/config/training_config.h"
#include "common/evaluation/eval_statistics.h"
#include "common/flat/flat_vector.h"
#include "common/secagg/input_encoding.h"
#include "common/wire/secagg_exchange.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"
#include "server/round/dp_planner.h"
#include "server/round/model_evaluator.h"
#include "server/round/update_buffer_pool.h"
#include "server/strategy/server_optimizer_state.h"

namespace fedlearn {

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
  // Set when the round asks its cohort to evaluate the received model
  // (server/round/federated_evaluation.h).
  std::optional<v1::EvaluationTask> evaluation;
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

struct FetchOutcome {
  std::optional<Task> task;
  bool run_finished = false;
  bool run_failed = false;  // with run_finished
  // The run stopped because its state could not be recorded (a listener's
  // OnRoundCompleted failed): not finished, a restart resumes it.
  bool run_halted = false;
  uint32_t retry_after_ms = 0;
  std::string reason;  // why there is no task
};

struct UpdateSubmission {
  UpdateSubmission() = default;
  UpdateSubmission(UpdateSubmission&&) = default;
  UpdateSubmission& operator=(UpdateSubmission&&) = default;
  // Hands `delta` back to `buffer_pool` (if any) on every path: accepted,
  // rejected, cancelled or abandoned.
  ~UpdateSubmission() {
    if (buffer_pool != nullptr) buffer_pool->Recycle(std::move(delta));
  }

  std::string run_id;
  uint64_t round = 0;
  uint64_t model_version = 0;
  uint64_t num_examples = 0;
  double train_loss = 0.0;
  FlatVector delta;
  // Sum of delta's squares (in double), measured by the coordinator while
  // it decoded the upload (UploadAssembler); nullopt: not measured.
  // CheckUpdateContent trusts a finite value instead of re-reading delta;
  // whoever changes delta before that check must reset it.
  std::optional<double> squared_norm;
  // The site's SiteEvalReport (ToVector order) when the task asked for an
  // evaluation; untrusted until the collector validated it.
  std::vector<uint64_t> eval_report;
  // Where `delta` came from (UploadAssembler); null: freed as usual.
  std::shared_ptr<UpdateBufferPool> buffer_pool;
};

// A round's federated evaluation (server/round/federated_evaluation.h):
// the model of version `model_version` measured on the sites' held-out
// splits. Piggybacked on a training round (RoundSummary::federated_eval) or
// the result of an evaluation-only round
// (RoundListener::OnEvaluationCompleted).
struct FederatedEvalSummary {
  std::string run_id;
  uint64_t round = 0;
  uint64_t model_version = 0;
  bool evaluate_only = false;
  bool secure = false;
  int selected = 0;
  int participants = 0;  // reports in the aggregate
  EvalStatistics stats;
  // [evaluation] per_site: each site's own metrics, sorted by site id.
  std::vector<std::pair<std::string, EvalStatistics>> per_site;
  // The evaluation-only job: the model file it evaluated.
  std::string model_file;
  std::string model_file_run_id;  // the job's: the run that wrote the file
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
  bool secure = false;   // aggregated with secure aggregation
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
  // Rounds that carried an evaluation task: the sites' metrics of the model
  // the round started from (version round - 1).
  std::optional<FederatedEvalSummary> federated_eval;
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
    DpState state;                  // ledger and next clip norm
  };
  std::optional<Dp> dp;
  // Stateful server optimizers (server/strategy): their state after this
  // round, to persist with it. Null for FedAvg, which has none.
  std::shared_ptr<const ServerOptimizerState> strategy_state;
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
  // An evaluation-only round completed (the model is unchanged, and no
  // OnRoundCompleted follows for it). An error fails (halts) the run, as for
  // OnRoundCompleted: a restart redoes the evaluation.
  virtual absl::Status OnEvaluationCompleted(
      const FederatedEvalSummary& summary) {
    return absl::OkStatus();
  }
  virtual void OnRunEnded(const absl::Status& outcome) {}
  // An attempt of `round` opened with `cohort` selected (sorted ids).
  virtual void OnRoundStarted(uint64_t round, int attempt,
                              const std::vector<std::string>& cohort) {}
  // `client_id` was blamed for breaking an attempt of `round` (e.g. its key
  // shares did not decrypt at a neighbour, or its key advertisement did not
  // verify) and is excluded from the round's further attempts. `reason` is
  // the coordinator's own wording, safe to log.
  virtual void OnClientBlamed(uint64_t round, int attempt,
                              const std::string& client_id,
                              const std::string& reason) {}
  // An attempt of `round` entered `phase`: "Training" when it opens (the
  // cohort trains and uploads; the only phase of a plain round), then, in a
  // secure round, "AdvertiseKeys" when the first key advertisement is
  // accepted (a first client finished training) and each later
  // SecAggServerPhaseName ("ShareKeys", "MaskedInputCollection",
  // "ConsistencyCheck", "Unmasking") as the secure-aggregation server enters
  // it, and "Releasing" once the attempt has its aggregate (release,
  // evaluation, the listeners; the round ends with OnRoundCompleted). An
  // attempt that fails ends with OnRoundRetried or OnRunEnded. Unlike the
  // other hooks it may be called from any thread that moved the attempt on
  // (the driver's Tick, a transport thread's SecAggExchange), with the
  // engine's lock held: it must be cheap, must not block and must not call
  // back into the engine.
  virtual void OnPhaseStarted(uint64_t round, int attempt,
                              const std::string& phase) {}
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_ROUND_TYPES_H_
