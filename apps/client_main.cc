// fedlearn-client: the client daemon a hospital or bank runs next to its
// data. It dials out to the coordinator (mutual TLS), trains locally with
// LibTorch on data that never leaves the machine, and sends only the update.
#include <cstdio>
#include <filesystem>

#include "CLI/CLI.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/signal_set.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/thread_pool.hpp"
#include "client/client_config.h"
#include "client/client_daemon.h"
#include "client/client_metrics.h"
#include "client/client_session.h"
#include "client/fault_injecting_transport.h"
#include "client/grpc_coordinator_transport.h"
#include "client/site_preparer.h"
#include "client/training/torch_trainer.h"
#include "common/data/data_source.h"
#include "common/data/partition.h"
#include "common/metrics/metrics_http_server.h"
#include "common/util/log.h"
#include "common/util/status_class.h"
#include "common/util/version.h"

namespace {

// On stderr, as a JSON record once --log-format json is in force.
int Fail(const absl::Status& status) {
  fedlearn::ReportError("fedlearn-client", status.ToString());
  return 1;
}

// Record-level DP settings; the ledger defaults to state_dir, else the
// directory of --config (it must outlive the process: a budget that resets
// on restart guarantees nothing).
absl::StatusOr<fedlearn::RecordDpSettings> RecordDpFromConfig(
    const fedlearn::ClientConfig& config, const std::string& config_path) {
  fedlearn::RecordDpSettings dp;
  dp.noise_multiplier = config.record_dp_noise_multiplier;
  dp.clip_norm = config.record_dp_clip;
  dp.delta = config.record_dp_delta;
  dp.epsilon_budget = config.record_epsilon_budget;
  dp.ledger_path = config.record_dp_ledger;
  if (dp.ledger_path.empty() && !config.state_dir.empty()) {
    dp.ledger_path = config.state_dir + "/record_dp_ledger.json";
  } else if (dp.ledger_path.empty() && !config_path.empty()) {
    dp.ledger_path = (std::filesystem::path(config_path).parent_path() /
                      "record_dp_ledger.json")
                         .string();
  } else if (dp.ledger_path.empty()) {
    return absl::InvalidArgumentError(
        "record-level DP needs a place for its privacy ledger, so that the "
        "budget survives a restart: set site.state_dir (--state-dir), "
        "site.record_dp_ledger (--record-dp-ledger), or use --config");
  }
  if (absl::Status s = fedlearn::ValidateRecordDpSettings(dp); !s.ok()) {
    return s;
  }
  return dp;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedlearn;
  CLI::App app{"fedlearn client daemon: local training, only updates leave"};
  app.set_version_flag("--version", VersionLine("client"));
  // Every site setting is a key of deploy/client.toml (client/client_config.h)
  // with its flag; the flags given override the file.
  std::string config_path, record_updates_dir;
  bool print_config = false;
  app.add_option("-c,--config", config_path,
                 "TOML file with this site's settings (deploy/client.toml "
                 "documents every key); flags override it");
  app.add_flag("--print-config", print_config,
               "print the configuration reference (every key, its default "
               "and flag) and exit");
  ClientFlags flags;
  AddClientFlags(&app, &flags);
  app.add_option("--record-updates-dir", record_updates_dir,
                 "TESTING ONLY: also write each raw update here");
  int exit_after_secagg_messages = 0;
  app.add_option(
         "--testing-exit-after-secagg-messages", exit_after_secagg_messages,
         "TESTING ONLY: die after N secure-aggregation messages (2 = after "
         "sharing keys)")
      ->group("");
  CLI11_PARSE(app, argc, argv);
  if (print_config) {
    std::fputs(ClientConfigReference().c_str(), stdout);
    return 0;
  }
  ClientConfig config = DefaultClientConfig();
  if (!config_path.empty()) {
    if (absl::Status s = LoadClientConfig(config_path, &config); !s.ok())
      return Fail(s);
  }
  if (absl::Status s = ApplyClientFlags(flags, &config); !s.ok())
    return Fail(s);
  if (absl::Status s = ValidateClientConfig(config); !s.ok()) return Fail(s);
  if (absl::Status s = ConfigureLogging(config.log_level, config.log_format);
      !s.ok())
    return Fail(s);
  // A bad address fails now, not after the data has loaded.
  if (auto target = ParseCoordinatorTarget(config.coordinator); !target.ok())
    return Fail(target.status());

  SitePreparerOptions site;
  site.data = DataSourceOfKind(config.data_kind, config.data_path);
  site.data.delimiter = config.delimiter[0];
  site.data.ignore_columns = config.ignore_columns;
  site.partition = config.partition;
  site.num_partitions = config.num_partitions;
  site.partition_index = config.partition_index;
  site.partition_seed = config.partition_seed;
  site.torchscript_path = config.torchscript_path;
  site.base_weights_path = config.base_weights;
  if (!config.eval_data.empty()) {
    site.eval_data = site.data;  // the training data's format and columns
    site.eval_data.path = config.eval_data;
  }
  site.expected_architecture = config.torchscript_path.empty()
                                   ? config.expected_architecture
                                   : "torchscript";
  site.state_dir = config.state_dir;
  if (config.record_dp_noise_multiplier > 0) {
    absl::StatusOr<RecordDpSettings> dp =
        RecordDpFromConfig(config, config_path);
    if (!dp.ok()) return Fail(dp.status());
    site.record_dp = *std::move(dp);
  }
  SetTorchThreads(config.threads);

  // --metrics-listen: Prometheus text on /metrics, ready once registered.
  MetricsRegistry registry;
  std::unique_ptr<ClientMetrics> metrics;
  if (!config.metrics_listen.empty()) {
    metrics =
        std::make_unique<ClientMetrics>(&registry, site.record_dp.enabled());
    site.on_record_epsilon = [m = metrics.get()](double eps) {
      m->OnRecordEpsilon(eps);
    };
  }
  SitePreparer preparer(std::move(site));
  GrpcTransportOptions transport_options;
  transport_options.traffic = metrics.get();
  transport_options.target = config.coordinator;
  transport_options.server_name_override = config.server_name;
  transport_options.fetch_wait = ClientFetchWait(config);
  if (config.insecure) {
    transport_options.tls.insecure = true;
    transport_options.claimed_client_id = config.client_id;
  } else {
    if (!config.certs_dir.empty()) {
      transport_options.tls =
          TlsConfig::FromDirectory(config.certs_dir, config.client_id);
    }
    if (!config.ca.empty()) transport_options.tls.ca_cert_path = config.ca;
    if (!config.cert.empty()) transport_options.tls.cert_path = config.cert;
    if (!config.key.empty()) transport_options.tls.key_path = config.key;
  }
  absl::StatusOr<std::unique_ptr<GrpcCoordinatorTransport>> transport =
      GrpcCoordinatorTransport::Create(transport_options);
  if (!transport.ok()) return Fail(transport.status());

  ClientSession::Options session_options;
  // ValidateClientConfig allowed only none, dp and distributed-dp.
  session_options.privacy.level =
      config.require_privacy == "distributed-dp"
          ? PrivacyRequirement::Level::kDistributedDp
      : config.require_privacy == "dp" ? PrivacyRequirement::Level::kDp
                                       : PrivacyRequirement::Level::kNone;
  session_options.privacy.min_noise_multiplier = config.min_noise_multiplier;
  session_options.record_updates_dir = record_updates_dir;
  session_options.identity = transport_options.tls;
  session_options.observer = metrics.get();
  if (!record_updates_dir.empty()) {
    spdlog::warn(
        "--record-updates-dir writes raw updates to disk: testing only");
  }
  // The hidden test flag wraps the transport; the session never knows.
  CoordinatorTransport* coordinator_link = transport->get();
  std::unique_ptr<FaultInjectingTransport> fault_injection;
  if (exit_after_secagg_messages > 0) {
    fault_injection = std::make_unique<FaultInjectingTransport>(
        coordinator_link, exit_after_secagg_messages);
    coordinator_link = fault_injection.get();
  }
  ClientSession session(coordinator_link, &preparer, nullptr, session_options);
  std::unique_ptr<MetricsHttpServer> metrics_server;
  if (metrics != nullptr) {
    MetricsHttpServer::Options http;
    http.listen = config.metrics_listen;
    http.ready = [m = metrics.get()] { return m->registered(); };
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> started =
        MetricsHttpServer::Start(&registry, std::move(http));
    if (!started.ok()) return Fail(started.status());
    metrics_server = *std::move(started);
    // Tests and scripts read the bound port from this line (port 0).
    std::printf("metrics on port %d\n", metrics_server->port());
    std::fflush(stdout);
  }

  // One thread trains, one talks to the coordinator (heartbeats included,
  // so a long training never goes silent).
  boost::asio::io_context io;
  boost::asio::thread_pool rpc_workers(1);
  boost::asio::thread_pool compute_workers(1);
  ClientDaemon::Options daemon_options;
  daemon_options.backoff.max_consecutive_failures = config.max_failures;
  ClientDaemon daemon(io, rpc_workers, compute_workers, &session,
                      coordinator_link, daemon_options);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  int stop_signal = 0;
  bool daemon_finished = false;
  // site.metrics_linger_s: after the run, so the last scrapes see the final
  // counts; a signal ends it early.
  boost::asio::steady_timer linger(io);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    linger.cancel();
    if (daemon_finished) return;
    spdlog::info("signal {}: abandoning current work and exiting", signo);
    stop_signal = signo;
    daemon.Stop();
  });
  absl::Status outcome;
  daemon.Start([&](const absl::Status& s) {
    outcome = s;
    daemon_finished = true;
    if (metrics_server != nullptr && config.metrics_linger_s > 0 &&
        stop_signal == 0) {
      linger.expires_after(std::chrono::milliseconds(
          static_cast<int64_t>(config.metrics_linger_s * 1000)));
      linger.async_wait(
          [&](const boost::system::error_code&) { signals.cancel(); });
      return;
    }
    signals.cancel();
  });
  io.run();
  rpc_workers.join();
  compute_workers.join();
  if (stop_signal != 0 || absl::IsCancelled(outcome)) {
    // Deregister so the coordinator stops selecting this site at once.
    session.LeaveRun(absl::StrCat("shutting down (signal ", stop_signal, ")"));
    return 0;
  }
  if (IsPermanent(outcome)) {
    ReportError("fedlearn-client",
                absl::StrCat("stopped: ", outcome.message(),
                             "\n(permanent: fix this site's configuration; "
                             "retrying cannot help)"));
    return kExitPermanentFailure;
  }
  if (!outcome.ok()) return Fail(outcome);
  return 0;
}
