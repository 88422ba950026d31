#include "apps/simulation/sim_flags.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace fedlearn {

std::string SimulatedClientName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "client-%03d", i + 1);
  return buf;
}

void AddSimFlags(CLI::App& app, SimFlags* f) {
  app.add_option("-c,--config", f->config_path,
                 "TOML configuration (see deploy/)");
  app.add_option("--state-dir", f->state_dir, "models, metrics, checkpoints");
  app.add_option("--certs", f->certs_dir,
                 "certificate directory (default STATE_DIR/certs): a fresh "
                 "throw-away CA is written there each run, without ca.key; "
                 "one holding a ca.key (fedlearn-certs init) is reused. "
                 "Scale-out modes: the CA (ca.pem + ca.key) the pools issue "
                 "their clients' certificates with (never written to)");
  app.add_option("--rounds", f->rounds, "number of rounds");
  app.add_option("--clients", f->clients,
                 "number of virtual clients (all pools together)");
  app.add_option("--partition", f->partition,
                 "iid | dirichlet:ALPHA | shards:K");
  app.add_option("--workers", f->workers,
                 "concurrent trainings (default: cores)");
  app.add_option("--seed", f->seed, "seed for sampling, partitioning, init");
  app.add_flag("--insecure", f->insecure, "plaintext loopback (testing only)");
  app.add_flag("--print-config", f->print_config,
               "print the configuration reference (every key with its "
               "default) and exit");
  app.add_option("--log-format", f->log_format,
                 "text or json lines on stderr (overrides [run] log_format)")
      ->check(CLI::IsMember(LogFormatNames()));
  app.add_flag("--clients-only", f->clients_only,
               "scale-out: run only the virtual clients of --client-range "
               "against --coordinator");
  app.add_option("--coordinator", f->coordinator,
                 "--clients-only: the coordinator's HOST:PORT");
  app.add_option("--client-range", f->client_range,
                 "--clients-only: A:B runs clients A..B-1 (0-based) of N");
  app.add_option("--server-name", f->server_name,
                 "--clients-only: name the server certificate carries "
                 "(default: the coordinator's host)");
  app.add_option("--record-dp-noise-multiplier", f->record_dp_noise_multiplier,
                 "record-level DP-SGD at every virtual site at this noise "
                 "multiplier (0 = off; as fedlearn-client's)");
  app.add_option("--record-dp-clip", f->record_dp_clip,
                 "record-level DP: per-example gradient L2 bound");
  app.add_option("--record-dp-delta", f->record_dp_delta,
                 "record-level DP: delta (default 1e-5)");
  app.add_option("--record-epsilon-budget", f->record_epsilon_budget,
                 "record-level DP: each site's epsilon budget");
  app.add_flag("--synthetic-updates", f->synthetic_updates,
               "load tests only, NOT TRAINING: virtual clients load no data "
               "and send seeded random vectors of the model's size (or "
               "--synthetic-value) through the real stack");
  app.add_option("--synthetic-examples", f->synthetic_examples,
                 "--synthetic-updates: example count each client declares");
  app.add_option("--synthetic-value", f->synthetic_value,
                 "--synthetic-updates: send this value in every coordinate "
                 "(0 = seeded random in [-0.01, 0.01])");
  app.add_option("--fetch-wait-ms", f->fetch_wait_ms,
                 "idle clients' long poll: the coordinator may hold a task "
                 "fetch this long (0 = poll every poll_interval_ms)")
      ->check(CLI::Range(0, 60'000));
  app.add_flag("--coordinator-only", f->coordinator_only,
               "scale-out: run only the coordinator, for client pools");
  app.add_option("--listen", f->listen,
                 "--coordinator-only: address to listen on (default "
                 "127.0.0.1:0; the port is printed)");
}

absl::StatusOr<SimMode> ModeOfFlags(const SimFlags& f) {
  auto refuse = [](absl::string_view why) {
    return absl::InvalidArgumentError(why);
  };
  if (f.clients_only && f.coordinator_only) {
    return refuse("--clients-only and --coordinator-only exclude each other");
  }
  if (!f.clients_only) {
    if (!f.coordinator.empty() || !f.client_range.empty() ||
        !f.server_name.empty()) {
      return refuse(
          "--coordinator, --client-range and --server-name need "
          "--clients-only");
    }
  } else if (f.coordinator.empty() || f.client_range.empty()) {
    return refuse(
        "--clients-only needs --coordinator HOST:PORT and "
        "--client-range A:B");
  }
  if (!f.listen.empty() && !f.coordinator_only) {
    return refuse("--listen needs --coordinator-only");
  }
  if ((f.clients_only || f.coordinator_only) && !f.insecure &&
      f.certs_dir.empty()) {
    return refuse(
        "--clients-only and --coordinator-only need --certs DIR holding the "
        "run's CA (ca.pem and ca.key, from `fedlearn-certs init`)");
  }
  if (f.clients_only && !f.state_dir.empty()) {
    return refuse("--state-dir is the coordinator's; a client pool keeps none");
  }
  if (f.clients_only) return SimMode::kClientsOnly;
  if (f.coordinator_only) return SimMode::kCoordinatorOnly;
  return SimMode::kSingleProcess;
}

absl::StatusOr<ClientRange> ParseClientRange(absl::string_view text,
                                             int num_clients) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  ClientRange range;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &range.begin) ||
      !absl::SimpleAtoi(parts[1], &range.end)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--client-range must be A:B (clients A..B-1, 0-based), got \"",
        text.substr(0, 40), "\""));
  }
  if (range.begin < 0 || range.begin >= range.end || range.end > num_clients) {
    return absl::InvalidArgumentError(
        absl::StrCat("--client-range ", range.begin, ":", range.end,
                     " is not within the run's ", num_clients,
                     " clients: need 0 <= A < B <= ", num_clients,
                     " ([simulation] clients or --clients)"));
  }
  return range;
}

namespace {

// --clients caps what the rounds wait for, so a smaller run still starts.
void ApplyClientCount(int clients, CoordinatorConfig& config) {
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

}  // namespace

absl::StatusOr<CoordinatorConfig> LoadSimulationConfig(const SimFlags& f,
                                                       SimMode mode) {
  ASSIGN_OR_RETURN(CoordinatorConfig config,
                   LoadCoordinatorConfigOrDefaults(f.config_path));
  if (!f.state_dir.empty()) config.state_dir = f.state_dir;
  if (f.rounds > 0) config.engine.num_rounds = f.rounds;
  if (f.clients > 0) ApplyClientCount(f.clients, config);
  if (!f.partition.empty()) config.simulation.partition = f.partition;
  if (f.workers > 0) config.simulation.workers = f.workers;
  if (f.seed > 0) {
    config.engine.seed = f.seed;
    config.model_seed = f.seed;
    config.engine.training.seed = f.seed;
  }
  if (f.insecure) config.tls.insecure = true;
  config.simulation.record_dp_noise_multiplier = f.record_dp_noise_multiplier;
  config.simulation.record_dp_clip = f.record_dp_clip;
  config.simulation.record_dp_delta = f.record_dp_delta;
  config.simulation.record_epsilon_budget = f.record_epsilon_budget;
  if (!f.log_format.empty()) config.log_format = f.log_format;
  config.listen = mode == SimMode::kCoordinatorOnly && !f.listen.empty()
                      ? f.listen
                      : "127.0.0.1:0";
  if (mode != SimMode::kClientsOnly) {
    // The simulation's coordinator admits exactly its virtual clients.
    for (int i = 0; i < config.simulation.clients; ++i) {
      config.identity.enrolled_clients.push_back(SimulatedClientName(i));
    }
  }
  // The one validation of this run's settings (file + flags).
  RETURN_IF_ERROR(ValidateCoordinatorConfig(config));
  return config;
}

}  // namespace fedlearn
