// fedlearn-client: the client daemon a hospital or bank runs next to its
// data. It dials out to the coordinator (mutual TLS), trains locally with
// LibTorch on data that never leaves the machine, and sends only the update.
#include <cstdio>

#include "CLI/CLI.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/signal_set.hpp"
#include "boost/asio/thread_pool.hpp"
#include "client/client_daemon.h"
#include "client/client_session.h"
#include "client/grpc_coordinator_transport.h"
#include "client/training/torch_trainer.h"
#include "common/data/data_source.h"
#include "common/data/partition.h"
#include "common/util/log.h"

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "fedlearn-client: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedlearn;
  CLI::App app{"fedlearn client daemon: local training, only updates leave"};
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

  app.add_option("--coordinator", coordinator, "coordinator host:port")
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
  app.add_option("--label-column", data.label_column, "CSV label column")
      ->capture_default_str();
  app.add_option("--partition", partition,
                 "use one shard of the data (simulating a site): iid, "
                 "dirichlet:A, shards:K");
  app.add_option("--num-partitions", num_partitions, "number of shards");
  app.add_option("--partition-index", partition_index, "which shard (0-based)");
  app.add_option("--partition-seed", partition_seed, "seed of the partitioner");
  app.add_option("--model", model.architecture,
                 "logreg, mlp, lenet5 or torchscript")
      ->capture_default_str();
  app.add_option("--torchscript", model.torchscript_path,
                 "TorchScript module file");
  app.add_option("--hidden-units", model.hidden_units, "mlp width");
  app.add_option("--threads", threads, "LibTorch intra-op threads")
      ->capture_default_str();
  app.add_option(
      "--max-failures", max_failures,
      "exit after this many consecutive failures (0 = retry forever)");
  app.add_option("--record-updates-dir", record_updates_dir,
                 "TESTING ONLY: also write each raw update here");
  app.add_option("--log-level", log_level);
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
  if (!model.torchscript_path.empty()) model.architecture = "torchscript";

  absl::StatusOr<Dataset> loaded = LoadDataSource(data, "train");
  if (!loaded.ok()) return Fail(loaded.status());
  Dataset dataset = *std::move(loaded);
  if (!partition.empty()) {
    absl::StatusOr<PartitionSpec> spec = ParsePartitionSpec(partition);
    if (!spec.ok()) return Fail(spec.status());
    absl::StatusOr<ClientIndices> parts =
        Partition(*spec, dataset.labels, dataset.num_classes, num_partitions,
                  partition_seed);
    if (!parts.ok()) return Fail(parts.status());
    if (partition_index < 0 || partition_index >= num_partitions) {
      return Fail(absl::InvalidArgumentError("--partition-index out of range"));
    }
    dataset = dataset.Subset((*parts)[partition_index]);
  }
  model.input_shape = dataset.sample_shape;
  model.num_classes = dataset.num_classes;

  SetTorchThreads(threads);
  absl::StatusOr<std::unique_ptr<TorchTrainer>> trainer =
      TorchTrainer::Create(model, std::move(dataset));
  if (!trainer.ok()) return Fail(trainer.status());

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
  ClientSession session(transport->get(), trainer->get(), nullptr,
                        session_options);

  boost::asio::io_context io;
  boost::asio::thread_pool workers(1);
  ClientDaemon::Options daemon_options;
  daemon_options.backoff.max_consecutive_failures = max_failures;
  ClientDaemon daemon(io, workers, &session, transport->get(), daemon_options);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("signal {}: abandoning current work and exiting", signo);
    daemon.Stop();
  });
  absl::Status outcome;
  daemon.Start([&](const absl::Status& s) {
    outcome = s;
    signals.cancel();
  });
  io.run();
  workers.join();
  if (absl::IsCancelled(outcome)) return 0;  // asked to stop
  if (!outcome.ok()) return Fail(outcome);
  return 0;
}
