#include "apps/simulation/sim_runs.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "apps/simulation/pool_certificates.h"
#include "apps/simulation/round_progress_bar.h"
#include "apps/simulation/synthetic_sites.h"
#include "apps/simulation/virtual_clients.h"
#include "apps/simulation/virtual_sites.h"
#include "client/training/torch_trainer.h"
#include "common/models/model_factory.h"
#include "common/tls/cert_authority.h"
#include "common/util/log.h"
#include "common/util/progress_bar.h"
#include "common/util/status_macros.h"
#include "server/coordinator.h"
#include "server/evaluation/torch_evaluator.h"

namespace fedlearn {
namespace {

using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

int TrainingSlotCount(const CoordinatorConfig& config) {
  return config.simulation.workers > 0
             ? config.simulation.workers
             : static_cast<int>(
                   std::max(1u, std::thread::hardware_concurrency()));
}

// Provisioning with a bar: "issuing certificates [###..] k/N".
absl::StatusOr<ProvisionReport> Provision(ProvisionOptions options,
                                          bool ephemeral) {
  ProgressBar bar("issuing certificates", options.num_clients + 1);
  options.on_progress = [&bar](int done, int) { bar.Update(done); };
  absl::StatusOr<ProvisionReport> report =
      ephemeral ? ProvisionEphemeralDirectory(options)
                : ProvisionDirectory(options);
  bar.Finish();
  return report;
}

// Throw-away certificates: a CA, the server, one identity per virtual
// client. The CA key lives only in memory (never in the state directory),
// unless --certs names a directory provisioned with its own ca.key.
absl::StatusOr<std::string> ProvisionSimulation(const SimFlags& flags,
                                                CoordinatorConfig& config) {
  std::string certs_dir = flags.certs_dir;
  const bool own_ca =
      !certs_dir.empty() && std::filesystem::exists(certs_dir + "/ca.key");
  if (certs_dir.empty()) certs_dir = config.state_dir + "/certs";
  if (config.tls.insecure) return certs_dir;
  ProvisionOptions provision;
  provision.out_dir = certs_dir;
  provision.num_clients = config.simulation.clients;
  RETURN_IF_ERROR(Provision(provision, /*ephemeral=*/!own_ca).status());
  config.tls = TlsConfig::FromDirectory(certs_dir, "server");
  return certs_dir;
}

// The coordinator with the run's initial model and test-set evaluator, as
// fedlearn-coordinator builds them.
absl::StatusOr<std::unique_ptr<Coordinator>> StartCoordinator(
    const CoordinatorConfig& run_config, int64_t* num_params) {
  // The contract carries the digest of a frozen base (if any).
  CoordinatorConfig config = run_config;
  ASSIGN_OR_RETURN(FlatModel initial,
                   CreateInitialModel(config.model, config.model_seed,
                                      &config.model.base_weights_sha256));
  ASSIGN_OR_RETURN(
      std::unique_ptr<ModelEvaluator> evaluator,
      CreateConfiguredEvaluator(
          config.evaluation, config.model,
          config.data_schema.has_value() ? &*config.data_schema : nullptr));
  *num_params = initial.spec.NumElements();
  ASSIGN_OR_RETURN(
      std::unique_ptr<Coordinator> coordinator,
      Coordinator::Start(config, std::move(initial), std::move(evaluator)));
  // Scripts read the endpoint from this line ([metrics] listen with port 0).
  if (const std::string url = coordinator->metrics_url(); !url.empty()) {
    std::printf("metrics on %s\n", url.c_str());
    std::fflush(stdout);
  }
  return coordinator;
}

// The sites of `range`: the data's shards, or light clients that do not
// train (--synthetic-updates), said loudly.
absl::StatusOr<VirtualSites> PrepareSites(const SimFlags& flags,
                                          const CoordinatorConfig& config,
                                          ClientRange range) {
  if (!flags.synthetic_updates) return PrepareVirtualSites(config, range);
  std::printf(
      "LIGHT CLIENTS (--synthetic-updates): NOT TRAINING; every client sends "
      "a synthetic vector of the model's size with %llu examples\n",
      static_cast<unsigned long long>(flags.synthetic_examples));
  SyntheticUpdates synthetic;
  synthetic.num_examples = flags.synthetic_examples;
  synthetic.fixed_value = static_cast<float>(flags.synthetic_value);
  synthetic.seed = config.engine.seed;
  return SyntheticVirtualSites(synthetic, range);
}

// Runs the rounds with the stdout printer between the bar's two listeners.
absl::Status RunRounds(Coordinator& coordinator,
                       const CoordinatorConfig& config,
                       const StopSignals& signals) {
  RoundProgressBar bar(config.engine.num_rounds);
  RoundProgressPrinter printer(config.engine.num_rounds);
  coordinator.AddListener(bar.before_printer());
  coordinator.AddListener(&printer);
  coordinator.AddListener(bar.after_printer());
  return coordinator.Run(signals.stop());
}

// The end of a coordinator's run on stdout; the exit status.
int ReportRun(Coordinator& coordinator, const CoordinatorConfig& config,
              const absl::Status& outcome, const StopSignals& signals,
              double seconds) {
  if (signals.stopped() && (outcome.ok() || absl::IsCancelled(outcome))) {
    std::printf(
        "stopped by signal after %d rounds; run again with the same "
        "--state-dir to resume\n",
        static_cast<int>(coordinator.model_version()));
    return 0;
  }
  if (!outcome.ok()) return FailSimulation(outcome);
  if (const std::string early = coordinator.finished_reason(); !early.empty()) {
    std::printf("stopped early: %s\n", early.c_str());
  }
  std::printf("done: %d rounds in %.1f s; models and metrics.jsonl in %s\n",
              static_cast<int>(coordinator.model_version()), seconds,
              config.state_dir.c_str());
  return 0;
}

}  // namespace

int FailSimulation(const absl::Status& status) {
  ReportError("fedlearn-sim", status.ToString());
  return 1;
}

int RunSingleProcess(const SimFlags& flags, CoordinatorConfig config,
                     const StopSignals& signals) {
  const int n = config.simulation.clients;
  const int slots = TrainingSlotCount(config);
  absl::StatusOr<std::string> certs_dir = ProvisionSimulation(flags, config);
  if (!certs_dir.ok()) return FailSimulation(certs_dir.status());
  SetTorchThreads(1);
  absl::StatusOr<VirtualSites> sites = PrepareSites(flags, config, {0, n});
  if (!sites.ok()) return FailSimulation(sites.status());
  int64_t num_params = 0;
  absl::StatusOr<std::unique_ptr<Coordinator>> coordinator =
      StartCoordinator(config, &num_params);
  if (!coordinator.ok()) return FailSimulation(coordinator.status());
  std::printf(
      "simulation: %d clients (%s, mean label skew %.2f), %s (%lld params), "
      "%d rounds, %d training slots, %s over %s on 127.0.0.1:%d\n",
      n, config.simulation.partition.c_str(), sites->mean_label_skew,
      config.model.architecture.c_str(), static_cast<long long>(num_params),
      config.engine.num_rounds, slots,
      config.engine.secagg.enabled ? "secure aggregation"
                                   : "PLAINTEXT aggregation",
      config.tls.insecure ? "INSECURE gRPC" : "gRPC + mutual TLS",
      (*coordinator)->port());
  std::fflush(stdout);

  VirtualClientsOptions options;
  options.target = absl::StrCat("127.0.0.1:", (*coordinator)->port());
  options.server_name = "localhost";
  options.insecure = config.tls.insecure;
  options.identity = [dir = *certs_dir](int i) {
    return TlsConfig::FromDirectory(dir, SimulatedClientName(i));
  };
  options.range = {0, n};
  options.training_slots = static_cast<size_t>(slots);
  options.jitter_seed = config.engine.seed;
  options.rounding_seed = config.engine.training.seed;
  options.fetch_wait = std::chrono::milliseconds(flags.fetch_wait_ms);
  absl::StatusOr<std::unique_ptr<VirtualClients>> clients =
      VirtualClients::Start(std::move(options), std::move(sites->preparers));
  if (!clients.ok()) return FailSimulation(clients.status());

  const auto started = SteadyClock::now();
  absl::Status outcome = RunRounds(**coordinator, config, signals);
  const double seconds = SecondsSince(started);
  (*clients)->Stop();
  (*coordinator)->Shutdown();
  return ReportRun(**coordinator, config, outcome, signals, seconds);
}

int RunCoordinatorOnly(const SimFlags& flags, CoordinatorConfig config,
                       const StopSignals& signals) {
  if (!config.tls.insecure) {
    // The server's pair from the run's CA: used if DIR holds it (as
    // `fedlearn-certs init` writes it), else issued into DIR once with the
    // CA there (no other file changes).
    const std::string& dir = flags.certs_dir;
    if (!std::filesystem::exists(dir + "/server.pem") ||
        !std::filesystem::exists(dir + "/server.key")) {
      ProvisionOptions provision;
      provision.out_dir = dir;
      if (absl::Status s = ProvisionDirectory(provision).status(); !s.ok())
        return FailSimulation(s);
    }
    config.tls = TlsConfig::FromDirectory(dir, "server");
  }
  // One LibTorch thread, as in the single-process simulation: the test-set
  // loss is then summed in the same order, so the metrics match it exactly.
  SetTorchThreads(1);
  int64_t num_params = 0;
  absl::StatusOr<std::unique_ptr<Coordinator>> coordinator =
      StartCoordinator(config, &num_params);
  if (!coordinator.ok()) return FailSimulation(coordinator.status());
  // Scripts and tests read the bound port from this line (--listen :0).
  std::printf("listening on port %d\n", (*coordinator)->port());
  std::printf(
      "simulation coordinator: %d clients (client-001..%s enrolled), %s "
      "(%lld params), %d rounds, %s\n",
      config.simulation.clients,
      SimulatedClientName(config.simulation.clients - 1).c_str(),
      config.model.architecture.c_str(), static_cast<long long>(num_params),
      config.engine.num_rounds,
      config.engine.secagg.enabled ? "secure aggregation"
                                   : "PLAINTEXT aggregation");
  std::fflush(stdout);
  const auto started = SteadyClock::now();
  absl::Status outcome = RunRounds(**coordinator, config, signals);
  const double seconds = SecondsSince(started);
  if (outcome.ok()) {
    // Let polling pools learn that the run is over before the server goes.
    for (int i = 0; i < 30 && !signals.stopped(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  (*coordinator)->Shutdown();
  return ReportRun(**coordinator, config, outcome, signals, seconds);
}

int RunClientsOnly(const SimFlags& flags, const CoordinatorConfig& config,
                   const StopSignals& signals) {
  const int n = config.simulation.clients;
  absl::StatusOr<ClientRange> range = ParseClientRange(flags.client_range, n);
  if (!range.ok()) return FailSimulation(range.status());
  std::unique_ptr<PoolCertificates> certificates;
  if (!config.tls.insecure) {
    ProgressBar bar("issuing certificates", range->size());
    absl::StatusOr<std::unique_ptr<PoolCertificates>> issued =
        PoolCertificates::Issue(flags.certs_dir, *range, /*valid_days=*/30,
                                [&bar](int done, int) { bar.Update(done); });
    bar.Finish();
    if (!issued.ok()) return FailSimulation(issued.status());
    certificates = *std::move(issued);
  }
  SetTorchThreads(1);
  absl::StatusOr<VirtualSites> sites = PrepareSites(flags, config, *range);
  if (!sites.ok()) return FailSimulation(sites.status());
  const int slots = TrainingSlotCount(config);
  std::printf(
      "client pool: %s..%s (%d of %d clients), %d training slots, against "
      "%s over %s\n",
      SimulatedClientName(range->begin).c_str(),
      SimulatedClientName(range->end - 1).c_str(), range->size(), n, slots,
      flags.coordinator.c_str(),
      config.tls.insecure ? "INSECURE gRPC" : "gRPC + mutual TLS");
  std::fflush(stdout);

  ProgressBar bar("virtual clients done", range->size());
  VirtualClientsOptions options;
  options.target = flags.coordinator;
  options.server_name = flags.server_name;
  options.insecure = config.tls.insecure;
  options.identity = [c = certificates.get()](int i) {
    return c->ForClient(i);
  };
  options.range = *range;
  options.training_slots = static_cast<size_t>(slots);
  options.jitter_seed = config.engine.seed;
  options.rounding_seed = config.engine.training.seed;
  options.fetch_wait = std::chrono::milliseconds(flags.fetch_wait_ms);
  // A coordinator gone for good (about 2.5 minutes) ends the pool.
  options.backoff.max_consecutive_failures = 10;
  options.on_client_done = [&bar](int done, int) { bar.Update(done); };
  const auto started = SteadyClock::now();
  absl::StatusOr<std::unique_ptr<VirtualClients>> clients =
      VirtualClients::Start(std::move(options), std::move(sites->preparers));
  if (!clients.ok()) return FailSimulation(clients.status());
  absl::Status outcome = (*clients)->Wait(signals.stop());
  (*clients)->Stop();
  bar.Finish();
  if (signals.stopped()) {
    std::printf("stopped by signal\n");
    return 0;
  }
  if (!outcome.ok()) return FailSimulation(outcome);
  std::printf("done: %d clients finished the run in %.1f s\n", range->size(),
              SecondsSince(started));
  return 0;
}

}  // namespace fedlearn
