// fedlearn-client: the client daemon a hospital or bank runs next to its
// data. It dials out to the coordinator (mutual TLS), trains locally with
// LibTorch on data that never leaves the machine, and sends only the update.
#include <cstdio>
#include <filesystem>

#include "CLI/CLI.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/signal_set.hpp"
#include "boost/asio/thread_pool.hpp"
#include "client/client_daemon.h"
#include "client/client_session.h"
#include "client/grpc_coordinator_transport.h"
#include "client/site_preparer.h"
#include "client/training/torch_trainer.h"
#include "common/data/data_source.h"
#include "common/data/partition.h"
#include "common/util/log.h"
#include "common/util/status_class.h"
#include "common/util/version.h"

namespace {

// A missing data file is a setup error to report before dialling out.
absl::Status CheckSiteDataExists(const fedlearn::DataSourceConfig& data) {
  if (data.kind == "csv") {
    if (data.path.empty()) {
      return absl::InvalidArgumentError("--data csv needs --data-path FILE");
    }
    std::error_code ec;
    if (!std::filesystem::is_regular_file(data.path, ec)) {
      return absl::NotFoundError(
          absl::StrCat("--data-path ", data.path, ": no such file"));
    }
  } else if (data.kind != "fashion-mnist") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--data ", data.kind, ": unknown kind (use fashion-mnist or csv)"));
  }
  return absl::OkStatus();
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "fedlearn-client: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedlearn;
  CLI::App app{"fedlearn client daemon: local training, only updates leave"};
  app.set_version_flag("--version", VersionLine("client"));
  std::string coordinator = "localhost:7443";
  std::string certs_dir, client_id, ca, cert, key, server_name;
  bool insecure = false;
  DataSourceConfig data{"fashion-mnist", "", "label"};
  std::string partition;
  int num_partitions = 1, partition_index = 0;
  uint64_t partition_seed = 1;
  ModelSource model;
  int threads = 1, max_failures = 0;
  std::string record_updates_dir, log_level = "info";

  app.add_option("--coordinator", coordinator,
                 "coordinator HOST[:PORT] (the port defaults to 7443; IPv6 "
                 "as [::1]:7443)")
      ->capture_default_str();
  app.add_option("--certs", certs_dir,
                 "directory holding ca.pem and <id>.pem/.key");
  app.add_option(
      "--id", client_id,
      "client id: selects <id>.pem/.key in --certs; the identity the "
      "coordinator sees is the certificate's CN");
  app.add_option("--ca", ca, "CA certificate (overrides --certs)");
  app.add_option("--cert", cert, "client certificate (overrides --certs)");
  app.add_option("--key", key, "client private key (overrides --certs)");
  app.add_option("--server-name", server_name,
                 "expected server name if not the host");
  app.add_flag("--insecure", insecure,
               "plaintext and a claimed id (testing only)");
  app.add_option("--data", data.kind, "fashion-mnist or csv")
      ->capture_default_str();
  app.add_option("--data-path", data.path, "IDX directory or CSV file");
    app.add_option("--partition", partition,
                 "use one shard of the data (simulating a site): iid, "
                 "dirichlet:A, shards:K");
  app.add_option("--num-partitions", num_partitions, "number of shards");
  app.add_option("--partition-index", partition_index, "which shard (0-based)");
  app.add_option("--partition-seed", partition_seed, "seed of the partitioner");
  std::string expected_architecture, delimiter = ",", site_state_dir;
  std::vector<std::string> ignore_columns;
  app.add_option("--model", expected_architecture,
                 "optional: refuse a run whose architecture is not this one "
                 "(the model itself comes from the coordinator's contract)");
  app.add_option("--delimiter", delimiter, "CSV field delimiter (one char)")
      ->capture_default_str();
  app.add_option("--ignore-columns", ignore_columns,
                 "CSV columns to skip (IDs, dates), by header name")
      ->delimiter(',');
  app.add_option("--state-dir", site_state_dir,
                 "where this site keeps the run contract and its "
                 "standardisation statistics (for fedlearn-predict)");
  app.add_option("--torchscript", model.torchscript_path,
                 "TorchScript module file");

  app.add_option("--threads", threads, "LibTorch intra-op threads")
      ->capture_default_str();
  app.add_option(
      "--max-failures", max_failures,
      "exit after this many consecutive failures (0 = retry forever)");
  app.add_option("--record-updates-dir", record_updates_dir,
                 "TESTING ONLY: also write each raw update here");
  app.add_option("--log-level", log_level, "log verbosity")
      ->check(CLI::IsMember(
          {"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  std::string require_privacy = "none";
  double min_noise_multiplier = 0;
  app.add_option("--require-privacy", require_privacy,
                 "refuse rounds below this: none | dp | distributed-dp")
      ->check(CLI::IsMember({"none", "dp", "distributed-dp"}));
  app.add_option("--min-noise-multiplier", min_noise_multiplier,
                 "with distributed-dp: refuse rounds whose noise multiplier "
                 "is lower")
      ->check(CLI::NonNegativeNumber);
  int exit_after_secagg_messages = 0;
  app.add_option("--testing-exit-after-secagg-messages", exit_after_secagg_messages,
                 "TESTING ONLY: die after N secure-aggregation messages (2 = after "
                 "sharing keys)")
      ->group("");
  CLI11_PARSE(app, argc, argv);
  ConfigureLogging(log_level);
  // A bad address fails now, not after the data has loaded.
  if (auto target = ParseCoordinatorTarget(coordinator); !target.ok())
    return Fail(target.status());
  if (!model.torchscript_path.empty()) model.architecture = "torchscript";

  if (absl::Status s = CheckSiteDataExists(data); !s.ok()) return Fail(s);
  SitePreparerOptions site;
  site.data = data;
  site.data.delimiter = delimiter.empty() ? ',' : delimiter[0];
  site.data.ignore_columns = ignore_columns;
  site.partition = partition;
  site.num_partitions = num_partitions;
  site.partition_index = partition_index;
  site.partition_seed = partition_seed;
  site.torchscript_path = model.torchscript_path;
  site.expected_architecture =
      model.torchscript_path.empty() ? expected_architecture : "torchscript";
  site.state_dir = site_state_dir;
  SetTorchThreads(threads);
  SitePreparer preparer(std::move(site));

  GrpcTransportOptions transport_options;
  transport_options.target = coordinator;
  transport_options.server_name_override = server_name;
  if (insecure) {
    transport_options.tls.insecure = true;
    transport_options.claimed_client_id = client_id;
  } else {
    if (!certs_dir.empty()) {
      if (client_id.empty())
        return Fail(absl::InvalidArgumentError("--certs needs --id"));
      transport_options.tls = TlsConfig::FromDirectory(certs_dir, client_id);
    }
    if (!ca.empty()) transport_options.tls.ca_cert_path = ca;
    if (!cert.empty()) transport_options.tls.cert_path = cert;
    if (!key.empty()) transport_options.tls.key_path = key;
  }
  absl::StatusOr<std::unique_ptr<GrpcCoordinatorTransport>> transport =
      GrpcCoordinatorTransport::Create(transport_options);
  if (!transport.ok()) return Fail(transport.status());

  ClientSession::Options session_options;
  if (require_privacy == "none") {
    session_options.privacy.level = PrivacyRequirement::Level::kNone;
  } else if (require_privacy == "dp") {
    session_options.privacy.level = PrivacyRequirement::Level::kDp;
  } else if (require_privacy == "distributed-dp") {
    session_options.privacy.level = PrivacyRequirement::Level::kDistributedDp;
  } else {
    return Fail(absl::InvalidArgumentError(
        "--require-privacy must be none, dp or distributed-dp"));
  }
  session_options.privacy.min_noise_multiplier = min_noise_multiplier;
  session_options.record_updates_dir = record_updates_dir;
  session_options.identity = transport_options.tls;
  session_options.exit_after_secagg_messages = exit_after_secagg_messages;
  if (!record_updates_dir.empty()) {
    spdlog::warn(
        "--record-updates-dir writes raw updates to disk: testing only");
  }
  ClientSession session(transport->get(), &preparer, nullptr,
                        session_options);

  boost::asio::io_context io;
  boost::asio::thread_pool workers(1);
  ClientDaemon::Options daemon_options;
  daemon_options.backoff.max_consecutive_failures = max_failures;
  ClientDaemon daemon(io, workers, &session, transport->get(), daemon_options);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  int stop_signal = 0;
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("signal {}: abandoning current work and exiting", signo);
    stop_signal = signo;
    daemon.Stop();
  });
  absl::Status outcome;
  daemon.Start([&](const absl::Status& s) {
    outcome = s;
    signals.cancel();
  });
  io.run();
  workers.join();
  if (stop_signal != 0 || absl::IsCancelled(outcome)) {
    // Deregister so the coordinator stops selecting this site at once.
    session.LeaveRun(absl::StrCat("shutting down (signal ", stop_signal, ")"));
    return 0;
  }
  if (IsPermanent(outcome)) {
    std::fprintf(stderr,
                 "fedlearn-client: stopped: %s\n(permanent: fix this site's "
                 "configuration; retrying cannot help)\n",
                 std::string(outcome.message()).c_str());
    return kExitPermanentFailure;
  }
  if (!outcome.ok()) return Fail(outcome);
  return 0;
}
