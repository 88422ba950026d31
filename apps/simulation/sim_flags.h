// fedlearn-sim's command line and the one place that turns it, with the
// TOML file, into the run's configuration. The three modes share it, so a
// coordinator started with --coordinator-only and pools started with
// --clients-only apply exactly the adjustments the single-process simulation
// applies (--clients caps min_clients, clients_per_round and min_updates;
// --seed sets the sampling, model and training seeds), and every pool
// partitions the same data over the same N with the same seed.
//
// Refuses (InvalidArgument, naming the flags): --clients-only together with
// --coordinator-only; --coordinator, --client-range or --server-name
// without --clients-only; --clients-only without --coordinator,
// --client-range or (unless --insecure) --certs; --listen without
// --coordinator-only; --coordinator-only without --certs (unless
// --insecure); a client range that is not A:B with 0 <= A < B <= N.
//
// Thread-compatible: plain values and pure functions.
#ifndef FEDLEARN_APPS_SIMULATION_SIM_FLAGS_H_
#define FEDLEARN_APPS_SIMULATION_SIM_FLAGS_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/coordinator_config.h"

namespace fedlearn {

// Virtual client i (0-based) is "client-%03d" of i + 1: client-001 ...
std::string SimulatedClientName(int i);

struct SimFlags {
  std::string config_path, state_dir, certs_dir, partition;
  int rounds = 0, clients = 0, workers = 0;
  uint64_t seed = 0;
  bool insecure = false;
  bool print_config = false;
  std::string log_format;  // "" = [run] log_format
  // Scale-out modes.
  bool clients_only = false;
  bool coordinator_only = false;
  std::string coordinator;   // --clients-only: HOST:PORT to dial
  std::string client_range;  // --clients-only: "A:B"
  std::string server_name;   // --clients-only: name on the server cert
  std::string listen;        // --coordinator-only: address to bind
  // Record-level DP-SGD at every virtual site (0: off).
  double record_dp_noise_multiplier = 0, record_dp_clip = 0;
  double record_dp_delta = 1e-5, record_epsilon_budget = 0;
  // Load tests: light clients that do not train (synthetic_sites.h).
  bool synthetic_updates = false;
  uint64_t synthetic_examples = 100;
  double synthetic_value = 0;  // 0: seeded random vectors
  // Idle clients' long poll (ms); 0: poll every retry_after_ms as before.
  int fetch_wait_ms = 50'000;
};

enum class SimMode { kSingleProcess, kClientsOnly, kCoordinatorOnly };

// Registers every flag on `app`, writing into `flags`.
void AddSimFlags(CLI::App& app, SimFlags* flags);

// The mode the flags ask for, or why the combination is refused (see the
// header comment; the range itself is checked by ParseClientRange).
absl::StatusOr<SimMode> ModeOfFlags(const SimFlags& flags);

// The virtual clients [begin, end) of a pool.
struct ClientRange {
  int begin = 0;
  int end = 0;
  int size() const { return end - begin; }
};

// "A:B" with 0 <= A < B <= `num_clients`; InvalidArgument otherwise.
absl::StatusOr<ClientRange> ParseClientRange(absl::string_view text,
                                             int num_clients);

// The file (or defaults) with the flags applied and, for the simulation and
// the coordinator-only mode, the N virtual clients enrolled (exactly they:
// client-001 .. client-N); validated once. The single-process simulation
// listens on 127.0.0.1:0; the coordinator-only mode on --listen (default
// 127.0.0.1:0).
absl::StatusOr<CoordinatorConfig> LoadSimulationConfig(const SimFlags& flags,
                                                       SimMode mode);

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_SIMULATION_SIM_FLAGS_H_
