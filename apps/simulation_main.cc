// fedlearn-sim: a federated run on one machine, for researchers and for the
// demo. The coordinator and N virtual clients run in this process and talk
// over loopback gRPC with mutual TLS: the same round engine, service, client
// session, daemon and trainer that a deployment uses; only the processes are
// merged. Virtual clients share two fixed-size thread pools, whatever N:
// `slots` training threads (one LibTorch thread each, so N clients never
// oversubscribe cores) and kRpcThreads for RPCs and heartbeats. No client
// step sleeps (secure-aggregation waits are timers on one io_context), so
// the process runs slots + kRpcThreads + 1 client threads for any N.
#include <cstdio>
#include <filesystem>
#include <thread>

#include "CLI/CLI.hpp"
#include "apps/stop_signals.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/thread_pool.hpp"
#include "client/client_daemon.h"
#include "client/client_session.h"
#include "client/grpc_coordinator_transport.h"
#include "client/site_preparer.h"
#include "client/training/torch_trainer.h"
#include "common/data/data_source.h"
#include "common/data/partition.h"
#include "common/models/model_factory.h"
#include "common/tls/cert_authority.h"
#include "common/util/log.h"
#include "common/util/version.h"
#include "server/coordinator.h"
#include "server/evaluation/torch_evaluator.h"

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "fedlearn-sim: %s\n", status.ToString().c_str());
  return 1;
}

// Threads for the virtual clients' RPC steps (prepare, register, poll, one
// secure-aggregation exchange, a push) and heartbeats. Each blocks on a short
// loopback call, so a few threads overlap the latency of 1,000 clients
// polling once a second; measured on 2 cores, 8 start a 1,000-client run
// faster than 4 and as fast as 16 (or as one thread per client).
constexpr size_t kRpcThreads = 8;

std::string ClientName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "client-%03d", i + 1);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedlearn;
  // First, before any thread exists: SIGINT/SIGTERM at any point from here
  // on is a graceful stop with status 0, never a kill.
  StopSignals signals("the simulation");
  CLI::App app{
      "fedlearn simulation: coordinator + N virtual clients on one machine"};
  app.set_version_flag("--version", VersionLine("sim"));
  std::string config_path, state_dir, certs_dir, partition;
  int rounds = 0, clients = 0, workers = 0;
  uint64_t seed = 0;
  bool insecure = false;
  app.add_option("-c,--config", config_path,
                 "TOML configuration (see deploy/)");
  app.add_option("--state-dir", state_dir, "models, metrics, checkpoints");
  app.add_option("--certs", certs_dir,
                 "certificate directory (default STATE_DIR/certs): a fresh "
                 "throw-away CA is written there each run, without ca.key; "
                 "one holding a ca.key (fedlearn-certs init) is reused");
  app.add_option("--rounds", rounds, "number of rounds");
  app.add_option("--clients", clients, "number of virtual clients");
  app.add_option("--partition", partition, "iid | dirichlet:ALPHA | shards:K");
  app.add_option("--workers", workers, "concurrent trainings (default: cores)");
  app.add_option("--seed", seed, "seed for sampling, partitioning, init");
  app.add_flag("--insecure", insecure, "plaintext loopback (testing only)");
  bool print_config = false;
  app.add_flag("--print-config", print_config,
               "print the configuration reference (every key with its "
               "default) and exit");
  CLI11_PARSE(app, argc, argv);
  if (print_config) {
    std::fputs(CoordinatorConfigReference().c_str(), stdout);
    return 0;
  }

  absl::StatusOr<CoordinatorConfig> loaded =
      LoadCoordinatorConfigOrDefaults(config_path);
  if (!loaded.ok()) return Fail(loaded.status());
  CoordinatorConfig config = *std::move(loaded);
  if (!state_dir.empty()) config.state_dir = state_dir;
  if (rounds > 0) config.engine.num_rounds = rounds;
  if (clients > 0) {
    config.simulation.clients = clients;
    config.engine.min_clients = std::min(config.engine.min_clients, clients);
    if (config.engine.clients_per_round > clients)
      config.engine.clients_per_round = clients;
    config.engine.min_updates =
        std::min(config.engine.min_updates,
                 std::max(1, config.engine.clients_per_round > 0
                                 ? config.engine.clients_per_round
                                 : clients));
  }
  if (!partition.empty()) config.simulation.partition = partition;
  if (workers > 0) config.simulation.workers = workers;
  if (seed > 0) {
    config.engine.seed = seed;
    config.model_seed = seed;
    config.engine.training.seed = seed;
  }
  if (insecure) config.tls.insecure = true;
  config.listen = "127.0.0.1:0";
  // The simulation provisions its virtual clients itself: exactly they are
  // enrolled for the run.
  for (int i = 0; i < config.simulation.clients; ++i) {
    config.identity.enrolled_clients.push_back(ClientName(i));
  }
  // The one validation of this run's settings (file + flags).
  if (absl::Status s = ValidateCoordinatorConfig(config); !s.ok())
    return Fail(s);
  ConfigureLogging(config.log_level);
  if (config.log_level == "info") spdlog::set_level(spdlog::level::warn);
  const int n = config.simulation.clients;
  const int slots = config.simulation.workers > 0
                        ? config.simulation.workers
                        : std::max(1u, std::thread::hardware_concurrency());

  // Throw-away certificates: a CA, the server, one identity per virtual
  // client. The CA key lives only in memory (never in the state directory),
  // unless --certs names a directory provisioned with its own ca.key.
  const bool own_ca =
      !certs_dir.empty() && std::filesystem::exists(certs_dir + "/ca.key");
  if (certs_dir.empty()) certs_dir = config.state_dir + "/certs";
  if (!config.tls.insecure) {
    ProvisionOptions provision;
    provision.out_dir = certs_dir;
    provision.num_clients = n;
    absl::StatusOr<ProvisionReport> report =
        own_ca ? ProvisionDirectory(provision)
               : ProvisionEphemeralDirectory(provision);
    if (!report.ok()) return Fail(report.status());
    config.tls = TlsConfig::FromDirectory(certs_dir, "server");
  }

  // Data: load once, partition, give each virtual client its own shard.
  // A tabular run loads the pooled table against the run's schema, raw:
  // each virtual site standardises its own shard (as a real site does).
  TableLoadReport table_report;
  absl::StatusOr<Dataset> train = LoadDataSource(
      config.simulation.train_data, "train",
      config.data_schema.has_value() ? &*config.data_schema : nullptr,
      &table_report);
  if (!train.ok()) return Fail(train.status());
  if (config.data_schema.has_value()) {
    spdlog::info("{}: {}", config.simulation.train_data.path,
                 table_report.Summary(*config.data_schema));
  } else if (config.simulation.train_data.kind == "csv") {
    return Fail(absl::InvalidArgumentError(
        "a tabular simulation needs the run's data schema: declare [data] "
        "(label_column, classes, columns) in the configuration"));
  }
  absl::StatusOr<PartitionSpec> spec =
      ParsePartitionSpec(config.simulation.partition);
  if (!spec.ok()) return Fail(spec.status());
  absl::StatusOr<ClientIndices> parts = Partition(
      *spec, train->labels, train->num_classes, n, config.engine.seed);
  if (!parts.ok()) return Fail(parts.status());
  if (train->sample_shape != config.model.input_shape ||
      train->num_classes != config.model.num_classes) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "the simulation's data (", train->num_classes, " classes, ",
        train->SampleNumel(), " values per sample) does not fit [model] (",
        config.model.num_classes,
        " classes): set [model] input_shape and num_classes, or [data]")));
  }

  SetTorchThreads(1);
  // Each virtual site prepares for the contract like a real one: model from
  // the coordinator's definition, its own shard, its own statistics.
  std::vector<std::unique_ptr<SitePreparer>> preparers;
  for (int i = 0; i < n; ++i) {
    SitePreparerOptions site;
    site.torchscript_path = config.model.torchscript_path;
    preparers.push_back(
        std::make_unique<SitePreparer>(site, train->Subset((*parts)[i])));
  }
  const double skew = MeanLabelSkew(*parts, train->labels, train->num_classes);
  train = Dataset();  // the shards hold their own copies

  absl::StatusOr<FlatModel> initial =
      CreateInitialModel(config.model, config.model_seed);
  if (!initial.ok()) return Fail(initial.status());
  absl::StatusOr<std::unique_ptr<ModelEvaluator>> evaluator =
      CreateConfiguredEvaluator(
          config.evaluation, config.model,
          config.data_schema.has_value() ? &*config.data_schema : nullptr);
  if (!evaluator.ok()) return Fail(evaluator.status());
  const int64_t num_params = initial->spec.NumElements();
  absl::StatusOr<std::unique_ptr<Coordinator>> coordinator =
      Coordinator::Start(config, *std::move(initial), *std::move(evaluator));
  if (!coordinator.ok()) return Fail(coordinator.status());

  std::printf(
      "simulation: %d clients (%s, mean label skew %.2f), %s (%lld params), "
      "%d rounds, %d training slots, %s over %s on 127.0.0.1:%d\n",
      n, config.simulation.partition.c_str(), skew,
      config.model.architecture.c_str(), static_cast<long long>(num_params),
      config.engine.num_rounds, slots,
      config.engine.secagg.enabled ? "secure aggregation"
                                   : "PLAINTEXT aggregation",
      config.tls.insecure ? "INSECURE gRPC" : "gRPC + mutual TLS",
      (*coordinator)->port());
  std::fflush(stdout);

  // Virtual clients: the deployment's daemon, session and transport.
  boost::asio::io_context io;
  boost::asio::thread_pool rpc_workers(kRpcThreads);
  // Its size bounds concurrent trainings: no TrainingSlots needed.
  boost::asio::thread_pool compute_workers(static_cast<size_t>(slots));
  std::vector<std::unique_ptr<GrpcCoordinatorTransport>> transports;
  std::vector<std::unique_ptr<ClientSession>> sessions;
  std::vector<std::unique_ptr<ClientDaemon>> daemons;
  for (int i = 0; i < n; ++i) {
    GrpcTransportOptions options;
    options.target = absl::StrCat("127.0.0.1:", (*coordinator)->port());
    options.server_name_override = "localhost";
    options.claimed_client_id = ClientName(i);
    options.tls = config.tls.insecure
                      ? TlsConfig{true, "", "", ""}
                      : TlsConfig::FromDirectory(certs_dir, ClientName(i));
    absl::StatusOr<std::unique_ptr<GrpcCoordinatorTransport>> transport =
        GrpcCoordinatorTransport::Create(options);
    if (!transport.ok()) return Fail(transport.status());
    transports.push_back(*std::move(transport));
    ClientSession::Options session_options;
    session_options.identity = options.tls;
    sessions.push_back(std::make_unique<ClientSession>(
        transports.back().get(), preparers[i].get(), /*slots=*/nullptr,
        session_options));
    ClientDaemon::Options daemon_options;
    daemon_options.default_poll = std::chrono::milliseconds(100);
    daemon_options.jitter_seed = config.engine.seed + i;
    daemons.push_back(std::make_unique<ClientDaemon>(
        io, rpc_workers, compute_workers, sessions.back().get(),
        transports.back().get(), daemon_options));
  }
  int finished_clients = 0;
  for (auto& daemon : daemons) {
    daemon->Start([&](const absl::Status&) { ++finished_clients; });
  }
  auto work_guard = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });

  RoundProgressPrinter printer(config.engine.num_rounds);
  (*coordinator)->AddListener(&printer);
  const auto started = std::chrono::steady_clock::now();
  absl::Status outcome = (*coordinator)->Run(signals.stop());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();

  for (auto& daemon : daemons) daemon->Stop();
  work_guard.reset();
  io_thread.join();
  rpc_workers.join();
  compute_workers.join();
  daemons.clear();
  (*coordinator)->Shutdown();
  if (signals.stopped() && (outcome.ok() || absl::IsCancelled(outcome))) {
    std::printf(
        "stopped by signal after %d rounds; run again with the same "
        "--state-dir to resume\n",
        static_cast<int>((*coordinator)->model_version()));
    return 0;
  }
  if (!outcome.ok()) return Fail(outcome);
  if (const std::string early = (*coordinator)->finished_reason();
      !early.empty()) {
    std::printf("stopped early: %s\n", early.c_str());
  }
  std::printf("done: %d rounds in %.1f s; models and metrics.jsonl in %s\n",
              static_cast<int>((*coordinator)->model_version()), seconds,
              config.state_dir.c_str());
  return 0;
}
