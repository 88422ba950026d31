// fedlearn-coordinator: runs a federated training run for remote client
// daemons. See README.md ("Running a real deployment") and
// deploy/coordinator.toml for the configuration reference.
#include <cstdio>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "apps/stop_signals.h"
#include "common/data/data_source.h"
#include "common/flat/spec_mismatch.h"
#include "common/models/model_factory.h"
#include "common/transport/tls_config.h"
#include "common/util/log.h"
#include "common/util/version.h"
#include "common/wire/model_file.h"
#include "server/coordinator.h"
#include "server/evaluation/torch_evaluator.h"
#include "server/ingest_heap.h"

namespace {

// On stderr, as a JSON record once --log-format json is in force.
int Fail(const absl::Status& status) {
  fedlearn::ReportError("fedlearn-coordinator", status.ToString());
  return 1;
}

// A stop before the run started: nothing to abandon or persist.
int StoppedBeforeStart(const fedlearn::StopSignals& signals) {
  spdlog::info("stopped by {} before the run started",
               fedlearn::StopSignals::Name(signals.signal()));
  return 0;
}

// --evaluate-model: the job evaluates `path` (a model of the configured
// architecture) instead of training from `*initial`; `*ref` is the file's
// own run, round and version.
absl::Status LoadModelToEvaluate(const std::string& path,
                                 fedlearn::FlatModel* initial,
                                 fedlearn::v1::RoundRef* ref) {
  absl::StatusOr<fedlearn::SavedModel> saved = fedlearn::ReadModelFile(path);
  if (!saved.ok()) {
    return absl::Status(saved.status().code(),
                        absl::StrCat("--evaluate-model ", path, ": ",
                                     saved.status().message()));
  }
  if (!saved->model.spec.CompatibleWith(initial->spec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--evaluate-model ", path,
        " is not a model of the configured [model]: ",
        fedlearn::DescribeSpecMismatch(initial->spec,
                                       "the configured [model] has",
                                       saved->model.spec, "the file has")));
  }
  *initial = std::move(saved->model);
  *ref = saved->ref;
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedlearn;
  // First, before any thread exists: SIGINT/SIGTERM at any point from here
  // on is a graceful stop with status 0, never a kill.
  StopSignals signals("the coordinator");
  // As in fedlearn-sim: Debian's abseil is built without NDEBUG, so every
  // absl::Mutex (all of gRPC's locks) would record lock-order edges in one
  // global graph; a debugging aid, not a check of any input.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // gRPC's receive slices reuse freed heap instead of faulting in new pages
  // on every read (server/ingest_heap.h).
  RetainFreedHeapForIngest();
  // To stderr from the start (the level follows the configuration below).
  ConfigureLogging("info");
  CLI::App app{"fedlearn coordinator: federated averaging over mutual TLS"};
  app.set_version_flag("--version", VersionLine("coordinator"));
  std::string config_path;
  std::string listen, state_dir, run_id, certs_dir;
  int rounds = 0, min_clients = 0, clients_per_round = 0, min_updates = 0;
  double timeout_s = 0, linger_s = 3;
  bool insecure = false;
  std::string eval_dataset = "-";
  std::string log_level, log_format;
  app.add_option("-c,--config", config_path, "TOML configuration file");
  app.add_option("--listen", listen, "address to listen on, e.g. 0.0.0.0:7443");
  std::string metrics_listen;
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus endpoint HOST:PORT, e.g. 127.0.0.1:9464 "
                 "(overrides [metrics] listen; no TLS: keep it on loopback)");
  app.add_option("--state-dir", state_dir,
                 "where models, metrics and checkpoints go");
  app.add_option("--run-id", run_id, "run identifier");
  app.add_option(
      "--certs", certs_dir,
      "directory from `fedlearn-certs init` (ca.pem, server.pem, server.key)");
  app.add_option("--rounds", rounds, "number of federated rounds");
  app.add_option("--min-clients", min_clients,
                 "clients required before round 1");
  app.add_option("--clients-per-round", clients_per_round,
                 "clients sampled per round");
  app.add_option("--min-updates", min_updates,
                 "accepted updates needed per round");
  app.add_option("--round-timeout-s", timeout_s,
                 "per-round deadline in seconds");
  app.add_option("--eval-dataset", eval_dataset,
                 "server-side test set: fashion-mnist, none");
  app.add_option(
      "--linger-s", linger_s,
      "keep answering 'run finished' this long after the last round");
  app.add_flag(
      "--insecure", insecure,
      "plaintext, client-claimed identities (testing only; logs a warning)");
  app.add_option("--log-level", log_level,
                 "log verbosity (overrides [run] log_level)")
      ->check(CLI::IsMember(LogLevelNames()));
  app.add_option("--log-format", log_format,
                 "text or json lines on stderr (overrides [run] log_format)")
      ->check(CLI::IsMember(LogFormatNames()));
  std::string evaluate_model;
  app.add_option("--evaluate-model", evaluate_model,
                 "evaluate this model file (.fmodel) on every live site's "
                 "held-out split without training, then end; results in "
                 "<state-dir>/evaluation.jsonl ([evaluation] keys apply)");
  bool print_config = false;
  app.add_flag("--print-config", print_config,
               "print the configuration reference (every key with its "
               "default) and exit");
  CLI11_PARSE(app, argc, argv);
  if (print_config) {
    std::fputs(CoordinatorConfigReference().c_str(), stdout);
    return 0;
  }
  // The format asked for from the first line on (the file may set it too).
  if (!log_format.empty()) (void)ConfigureLogging("info", log_format);

  absl::StatusOr<CoordinatorConfig> loaded =
      LoadCoordinatorConfigOrDefaults(config_path);
  if (signals.stopped()) return StoppedBeforeStart(signals);
  if (!loaded.ok()) return Fail(loaded.status());
  CoordinatorConfig config = *std::move(loaded);
  if (!listen.empty()) config.listen = listen;
  if (!metrics_listen.empty()) config.metrics_listen = metrics_listen;
  if (!state_dir.empty()) config.state_dir = state_dir;
  if (!run_id.empty()) config.engine.run_id = run_id;
  if (!certs_dir.empty())
    config.tls = TlsConfig::FromDirectory(certs_dir, "server");
  if (insecure) config.tls.insecure = true;
  if (rounds > 0) config.engine.num_rounds = rounds;
  if (min_clients > 0) config.engine.min_clients = min_clients;
  if (clients_per_round > 0)
    config.engine.clients_per_round = clients_per_round;
  if (min_updates > 0) config.engine.min_updates = min_updates;
  if (timeout_s > 0)
    config.engine.round_timeout = Duration(int64_t(timeout_s * 1000));
  if (eval_dataset == "none") {
    config.evaluation.kind.clear();
  } else if (eval_dataset != "-") {
    config.evaluation.kind = eval_dataset;
  }
  if (!log_level.empty()) config.log_level = log_level;
  if (!log_format.empty()) config.log_format = log_format;
  // The evaluation-only job: one evaluation-only round on every live site.
  if (!evaluate_model.empty()) config.engine.evaluation.job = true;
  // The one validation of this run's settings (file + flags).
  if (absl::Status s = ValidateCoordinatorConfig(config); !s.ok())
    return Fail(s);
  if (config.engine.evaluation.job) {
    config.engine.num_rounds = 0;  // it trains no round
    config.engine.clients_per_round = 0;
    config.engine.fraction = 1.0;  // every live site
    config.engine.evaluation.model_file = evaluate_model;
  }
  if (absl::Status s = ConfigureLogging(config.log_level, config.log_format);
      !s.ok())
    return Fail(s);
  if (!config.tls.insecure) {
    // Unusable files stop here with their names (the server would otherwise
    // fail to bind with no reason); a certificate from another CA than the
    // one clients are checked against is legal TLS but not this federation.
    absl::StatusOr<TlsMaterial> material = LoadTlsMaterial(config.tls);
    if (!material.ok()) return Fail(material.status());
    if (absl::Status s = VerifyOwnCertificateChain(config.tls, *material);
        !s.ok()) {
      spdlog::warn("{}", s.message());
    }
  }

  if (signals.stopped()) return StoppedBeforeStart(signals);
  absl::StatusOr<FlatModel> initial = CreateInitialModel(
      config.model, config.model_seed, &config.model.base_weights_sha256);
  if (!initial.ok()) return Fail(initial.status());
  if (!evaluate_model.empty()) {
    v1::RoundRef ref;
    if (absl::Status s = LoadModelToEvaluate(evaluate_model, &*initial, &ref);
        !s.ok())
      return Fail(s);
    config.engine.evaluation.model_file_version = ref.model_version();
    config.engine.evaluation.model_file_run_id = ref.run_id();
  }

  absl::StatusOr<std::unique_ptr<ModelEvaluator>> evaluator =
      CreateConfiguredEvaluator(
          config.evaluation, config.model,
          config.data_schema.has_value() ? &*config.data_schema : nullptr);
  if (!evaluator.ok()) return Fail(evaluator.status());
  if (signals.stopped()) return StoppedBeforeStart(signals);

  absl::StatusOr<std::unique_ptr<Coordinator>> coordinator =
      Coordinator::Start(config, *std::move(initial), *std::move(evaluator));
  if (!coordinator.ok()) return Fail(coordinator.status());
  // Tests and scripts read the bound port from this line (--listen :0).
  std::printf("listening on port %d\n", (*coordinator)->port());
  if (const std::string url = (*coordinator)->metrics_url(); !url.empty()) {
    std::printf("metrics on %s\n", url.c_str());
  }
  std::fflush(stdout);

  RoundProgressPrinter printer(config.engine.num_rounds);
  (*coordinator)->AddListener(&printer);
  // A stop already requested makes Run() return Cancelled at once.
  absl::Status outcome = (*coordinator)->Run(signals.stop());
  if (outcome.ok()) {
    // Let polling clients learn that the run is over before we go away.
    for (int i = 0; i < int(linger_s * 10) && !signals.stopped(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (const std::string early = (*coordinator)->finished_reason();
        !early.empty()) {
      std::printf("stopped early: %s\n", early.c_str());
    }
    if (config.engine.evaluation.job) {
      std::printf("evaluated %s; results in %s/evaluation.jsonl\n",
                  evaluate_model.c_str(), config.state_dir.c_str());
    } else {
      std::printf("run '%s' finished; models and metrics in %s\n",
                  config.engine.run_id.c_str(), config.state_dir.c_str());
    }
  }
  (*coordinator)->Shutdown();
  if (outcome.ok()) return 0;
  if (signals.stopped() && absl::IsCancelled(outcome)) {
    // Asked to stop (systemd's SIGTERM): a clean stop, every completed round
    // is checkpointed and a restart with the same run id resumes.
    spdlog::info("stopped by {} after round {}; the server is closed",
                 StopSignals::Name(signals.signal()),
                 (*coordinator)->model_version());
    if (config.engine.evaluation.job) {
      std::printf("stopped by signal before the evaluation completed\n");
    } else {
      std::printf("stopped by signal; run '%s' resumes from %s on restart\n",
                  config.engine.run_id.c_str(), config.state_dir.c_str());
    }
    return 0;
  }
  return Fail(outcome);
}
