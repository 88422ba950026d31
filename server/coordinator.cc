#include "server/coordinator.h"

#include <cstdio>
#include <ctime>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/flat/spec_mismatch.h"
#include "common/transport/tls_config.h"
#include "common/util/atomic_file.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "common/util/version.h"
#include "common/wire/run_contract.h"
#include "server/strategy/server_optimizer_config.h"

namespace fedlearn {
namespace {

// "2026-12-01 10:11:12": local time, so an operator can match a progress
// line to the logs and to the clients' logs.
std::string LocalTimestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &local);
  return text;
}

}  // namespace

absl::Status RoundProgressPrinter::OnRoundCompleted(const RoundSummary& s,
                                                    const FlatModel& global) {
  std::string eval = "test acc   n/a  ";
  if (s.eval) {
    eval = absl::StrFormat("test acc %6.2f%% (loss %.4f)",
                           100.0 * s.eval->accuracy, s.eval->loss);
  }
  // A DP round has no train loss (no noise protects it): it shows the
  // privacy spent so far instead.
  const std::string middle =
      s.dp ? absl::StrFormat("eps %6.3f (delta %.0e) | clip %.3f",
                             s.dp->epsilon, s.dp->delta, s.dp->clip_norm)
           : absl::StrFormat("train loss %.4f", s.train_loss);
  std::printf(
      "%s round %3d/%d | participants %3d/%-3d | %s | %s | %6.2f s%s\n",
      LocalTimestamp().c_str(), static_cast<int>(s.round), num_rounds_,
      s.participants, s.selected, middle.c_str(), eval.c_str(), s.seconds,
      s.federated_eval ? DescribeEvalStatistics(s.federated_eval->stats).c_str()
                       : "");
  std::fflush(stdout);
  return absl::OkStatus();
}

absl::Status RoundProgressPrinter::OnEvaluationCompleted(
    const FederatedEvalSummary& s) {
  std::printf("%s evaluation of model version %d | participants %3d/%-3d%s\n",
              LocalTimestamp().c_str(), static_cast<int>(s.model_version),
              s.participants, s.selected,
              DescribeEvalStatistics(s.stats).c_str());
  std::fflush(stdout);
  return absl::OkStatus();
}

void RoundProgressPrinter::OnRoundRetried(uint64_t round, int attempt,
                                          const std::string& reason) {
  std::printf("%s round %3d: attempt %d failed (%s); retrying\n",
              LocalTimestamp().c_str(), static_cast<int>(round), attempt,
              reason.c_str());
  std::fflush(stdout);
}

namespace {

// Resumes the run the state directory holds (its model, round and privacy
// ledger replace `initial` and the engine's DP state), or starts it by
// saving `initial`. Returns the first round to run. Refuses a state
// directory of another run, model or DP mode.
absl::StatusOr<uint64_t> ResumeOrStartRun(const CoordinatorConfig& config,
                                          FileRunStore& store,
                                          RoundEngineConfig* engine_config,
                                          FlatModel* initial) {
  ASSIGN_OR_RETURN(std::optional<RunCheckpoint> checkpoint,
                   store.LoadCheckpoint());
  if (checkpoint.has_value() && checkpoint->run_id == config.engine.run_id) {
    RunCheckpoint& cp = *checkpoint;
    if (!cp.model.spec.CompatibleWith(initial->spec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the checkpoint in ", config.state_dir, " holds a different model (",
          DescribeSpecMismatch(initial->spec, "the configured [model] has",
                               cp.model.spec, "the checkpoint has"),
          "); use another state_dir or run id"));
    }
    if (config.engine.dp.enabled() && cp.completed_round > 0 && !cp.dp) {
      return absl::FailedPreconditionError(absl::StrCat(
          "run '", cp.run_id, "' released ", cp.completed_round,
          " round(s) without differential privacy; turning dp on now cannot "
          "make the run private. Start a new run (another run id)"));
    }
    if (!config.engine.dp.enabled() && cp.dp) {
      return absl::FailedPreconditionError(absl::StrCat(
          "run '", cp.run_id,
          "' is differentially private (its checkpoint "
          "holds a privacy ledger); resume it with the same [dp] settings"));
    }
    if (cp.dp) engine_config->dp_state = *cp.dp;
    // The server optimizer continues from its saved moments, bit for bit.
    RETURN_IF_ERROR(CheckStrategyResumable(config.engine.strategy, cp.strategy,
                                           cp.completed_round, cp.run_id));
    engine_config->strategy_state = std::move(cp.strategy);
    *initial = std::move(cp.model);
    spdlog::info("resuming run '{}' after round {} from {}",
                 config.engine.run_id, cp.completed_round, config.state_dir);
    return cp.completed_round + 1;
  } else {
    if (checkpoint.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat(config.state_dir, " holds run '", checkpoint->run_id,
                       "', not '", config.engine.run_id,
                       "'; choose another state_dir or the matching run id"));
    }
    RETURN_IF_ERROR(store.SaveInitialModel(config.engine.run_id, *initial));
  }
  return uint64_t{1};
}

// ResumeOrStartRun and the run's recorded configuration, then federated
// evaluation's part: the contract's EvaluationSpec and, for a run whose
// rounds are all done, whether its final evaluation is already recorded.
// The evaluation-only job neither resumes nor records a run (its one round
// leaves a line in evaluation.jsonl): it starts at round 1.
absl::StatusOr<uint64_t> PrepareRunState(const CoordinatorConfig& config,
                                         FileRunStore& store,
                                         RoundEngineConfig* engine_config,
                                         FlatModel* initial) {
  const FederatedEvaluationConfig& evaluation = config.engine.evaluation;
  uint64_t start_round = 1;
  if (!evaluation.job) {
    ASSIGN_OR_RETURN(start_round,
                     ResumeOrStartRun(config, store, engine_config, initial));
    // The effective configuration (file + flags) beside the run's history,
    // for fedlearn-report and an operator; written once the state directory
    // is known to hold this run, so another run's copy is never replaced.
    RETURN_IF_ERROR(WriteFileAtomically(config.state_dir + "/run-config.toml",
                                        RenderCoordinatorConfig(config)));
  }
  if (evaluation.enabled()) {
    *engine_config->contract.mutable_evaluation() = ToEvaluationSpec(config);
  }
  if (evaluation.every > 0 && !evaluation.job &&
      start_round > static_cast<uint64_t>(config.engine.num_rounds)) {
    ASSIGN_OR_RETURN(
        engine_config->evaluation.final_done,
        store.HasFinalEvaluation(config.engine.run_id, start_round - 1));
  }
  return start_round;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(
    const CoordinatorConfig& config, FlatModel initial,
    std::unique_ptr<ModelEvaluator> evaluator) {
  // REQUIRES: ValidateCoordinatorConfig(config).ok(): the program validated
  // it once, after its flags; the engine checks its own invariants.
  std::unique_ptr<Coordinator> c(new Coordinator());
  c->evaluator_ = std::move(evaluator);

  ASSIGN_OR_RETURN(c->store_, FileRunStore::Open(config.state_dir));
  ASSIGN_OR_RETURN(c->audit_,
                   AuditLog::Open(config.audit_path.empty()
                                      ? config.state_dir + "/audit.jsonl"
                                      : config.audit_path,
                                  &c->clock_));

  RoundEngineConfig engine_config = config.engine;
  if (engine_config.secagg.enabled && !config.tls.insecure) {
    // The coordinator checks every secure-aggregation key advertisement
    // against the federation CA before forwarding it. (--insecure with
    // secure aggregation is refused by ValidateCoordinatorConfig.)
    ASSIGN_OR_RETURN(TlsMaterial tls, LoadTlsMaterial(config.tls));
    engine_config.secagg.ca_pem = std::move(tls.ca_cert_pem);
  }
  ASSIGN_OR_RETURN(
      const uint64_t start_round,
      PrepareRunState(config, *c->store_, &engine_config, &initial));

  // The contract every site checks before it registers.
  *engine_config.contract.mutable_model() =
      ToModelDefinition(config.model, initial.spec);
  if (config.data_schema.has_value()) {
    *engine_config.contract.mutable_data() = ToProto(*config.data_schema);
  }
  ASSIGN_OR_RETURN(
      c->engine_,
      RoundEngine::Create(std::move(engine_config), std::move(initial),
                          start_round, &c->clock_, c->evaluator_.get()));
  // The store first: its checkpoint commits the round and its privacy
  // charge before any listener publishes it (run_store.h). The audit
  // listener still fails closed: a round the audit log cannot record fails
  // the run before the engine hands out the next round's task.
  c->audit_listener_ = std::make_unique<AuditingRoundListener>(c->audit_.get());
  c->engine_->AddListener(c->store_.get());
  c->engine_->AddListener(c->audit_listener_.get());
  c->audit_->Record(AuditEvent{"coordinator_started",
                               "",
                               {{"run_id", config.engine.run_id},
                                {"start_round", start_round},
                                {"insecure", config.tls.insecure}}});

  RETURN_IF_ERROR(c->StartAuthorizer(config));

  CoordinatorService::Options service_options;
  service_options.insecure = config.tls.insecure;
  service_options.audit = c->audit_.get();
  service_options.authorizer = c->authorizer_.get();
  service_options.limits = config.limits;
  service_options.limits.max_concurrent_uploads = config.max_concurrent_uploads;
  c->CreateMetrics(config);
  service_options.metrics = c->metrics_.get();
  c->service_ =
      std::make_unique<CoordinatorService>(c->engine_.get(), service_options);
  c->StartAdminService(config, start_round, service_options.limits);
  ASSIGN_OR_RETURN(c->server_,
                   StartGrpcServer(config.listen, config.tls,
                                   {c->service_.get(), c->admin_service_.get()},
                                   service_options.limits));
  c->serving_ = true;
  c->StartIdentityReloader(config);
  RETURN_IF_ERROR(c->StartMetricsEndpoint(config));
  spdlog::info("coordinator listening on port {} ({}), run '{}', {} rounds",
               c->server_.port, config.tls.insecure ? "INSECURE" : "mutual TLS",
               config.engine.run_id, config.engine.num_rounds);
  return c;
}

absl::Status Coordinator::StartAuthorizer(const CoordinatorConfig& config) {
  if (config.tls.insecure) return absl::OkStatus();
  ClientAuthorizer::Options options;
  options.run_id = config.engine.run_id;
  options.identity = config.identity;
  ASSIGN_OR_RETURN(options.ca_pem, ReadFileToString(config.tls.ca_cert_path));
  options.audit = audit_.get();
  options.clock = &clock_;
  ASSIGN_OR_RETURN(authorizer_, ClientAuthorizer::Create(std::move(options)));
  spdlog::info(
      "run '{}' admits {}{}", config.engine.run_id,
      authorizer_->enrolment().allows_any()
          ? std::string("any certificate of the CA (development)")
          : absl::StrCat(authorizer_->enrolment().size(),
                         " enrolled client(s)"),
      config.identity.crl_file.empty()
          ? ""
          : absl::StrCat(", revocations from ", config.identity.crl_file));
  return absl::OkStatus();
}

void Coordinator::StartAdminService(const CoordinatorConfig& config,
                                    uint64_t start_round,
                                    const ServiceLimits& limits) {
  RunStatusTracker::Options tracker;
  tracker.run_id = config.engine.run_id;
  tracker.coordinator_version = VersionLine("coordinator");
  tracker.num_rounds = config.engine.num_rounds;
  tracker.start_round = start_round;
  tracker.clock = &clock_;
  status_tracker_ = std::make_unique<RunStatusTracker>(std::move(tracker));
  engine_->AddListener(status_tracker_.get());
  AdminService::Options options;
  options.insecure = config.tls.insecure;
  options.authorizer = authorizer_.get();
  options.limits = limits;
  options.clock = &clock_;
  admin_service_ = std::make_unique<AdminService>(status_tracker_.get(),
                                                  engine_.get(), options);
}

void Coordinator::StartIdentityReloader(const CoordinatorConfig& config) {
  if (authorizer_ == nullptr) return;
  RoundEngine* engine = engine_.get();
  identity_reloader_ = std::make_unique<IdentityReloader>(
      authorizer_.get(),
      [engine](const Eviction& eviction) {
        // NotFound: it never registered; nothing to end.
        (void)engine->Evict(eviction.client_id, eviction.reason);
      },
      config.identity.reload_interval);
  identity_reloader_->Start();
  InstallSighupIdentityReload();
}

std::string Coordinator::finished_reason() const {
  return engine_->finished_reason();
}

uint64_t Coordinator::model_version() const { return engine_->model_version(); }

absl::Status Coordinator::Run(const std::atomic<bool>& stop) {
  absl::Status outcome = engine_->RunUntilDone(stop);
  // Kept in the coordinator's own log too: a head recorded elsewhere is
  // what lets `fedlearn-audit verify --expect-head` detect a rewrite.
  const AuditHead head = audit_->head();
  spdlog::info("audit log {}: {} entries, head {}:{}", audit_->path(), head.seq,
               head.seq, head.hash);
  LingerForScrapes(stop);
  return outcome;
}

void Coordinator::CreateMetrics(const CoordinatorConfig& config) {
  if (config.metrics_listen.empty()) return;
  CoordinatorMetrics::Options options;
  options.run_id = config.engine.run_id;
  options.num_rounds = config.engine.num_rounds;
  options.secure_aggregation = config.engine.secagg.enabled;
  options.dp_mode = DpModeName(config.engine.dp.mode);
  options.federated_evaluation = config.engine.evaluation.enabled();
  options.clock = &clock_;
  metrics_ = std::make_unique<CoordinatorMetrics>(std::move(options));
  engine_->AddListener(metrics_.get());
}

absl::Status Coordinator::StartMetricsEndpoint(
    const CoordinatorConfig& config) {
  if (metrics_ == nullptr) return absl::OkStatus();
  MetricsHttpServer::Options options;
  options.listen = config.metrics_listen;
  options.ready = [this] {
    return serving_.load() && engine_->phase() != RoundEngine::Phase::kFailed;
  };
  options.on_scrape = [this] {
    metrics_->ObserveStatus(engine_->status_view());
  };
  ASSIGN_OR_RETURN(metrics_server_,
                   MetricsHttpServer::Start(&metrics_->registry(), options));
  metrics_host_ =
      config.metrics_listen.substr(0, config.metrics_listen.rfind(':'));
  metrics_linger_ = config.metrics_linger;
  spdlog::info("metrics endpoint on {}", metrics_url());
  return absl::OkStatus();
}

void Coordinator::LingerForScrapes(const std::atomic<bool>& stop) const {
  if (metrics_server_ == nullptr || metrics_linger_.count() <= 0) return;
  spdlog::info("serving the final metrics for {} s",
               metrics_linger_.count() / 1000.0);
  const auto until = std::chrono::steady_clock::now() + metrics_linger_;
  while (!stop.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int Coordinator::metrics_port() const {
  return metrics_server_ != nullptr ? metrics_server_->port() : 0;
}

std::string Coordinator::metrics_url() const {
  if (metrics_server_ == nullptr) return "";
  return absl::StrCat("http://", metrics_host_, ":", metrics_server_->port(),
                      "/metrics");
}

void Coordinator::Shutdown() {
  serving_ = false;
  // Long-polling fetches answer now instead of holding the shutdown.
  if (service_ != nullptr) service_->EndFetchWaits();
  if (server_.server) {
    server_.server->Shutdown(std::chrono::system_clock::now() +
                             std::chrono::seconds(2));
  }
}

Coordinator::~Coordinator() {
  metrics_server_.reset();  // its callbacks read engine_ and metrics_
  Shutdown();
  if (server_.server) server_.server->Wait();
}

}  // namespace fedlearn
