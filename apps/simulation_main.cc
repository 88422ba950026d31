// fedlearn-sim: a federated run on one machine, for researchers and for the
// demo. The coordinator and N virtual clients run in this process and talk
// over loopback gRPC with mutual TLS: the same round engine, service, client
// session, daemon and trainer that a deployment uses; only the processes are
// merged. Virtual clients share two fixed-size thread pools, whatever N
// (apps/simulation/virtual_clients.h).
//
// Scale-out (docs/operations.md): --coordinator-only runs the same
// coordinator alone and --clients-only --client-range A:B runs clients
// A..B-1 of the same N against it, so many processes (pods) can share one
// run; with the same configuration and seed the result is the
// single-process one (tests/e2e/scale_out_simulation_e2e_test.cc).
#include <cstdio>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "apps/simulation/sim_flags.h"
#include "apps/simulation/sim_runs.h"
#include "apps/stop_signals.h"
#include "common/util/log.h"
#include "common/util/version.h"

int main(int argc, char** argv) {
  using namespace fedlearn;
  // First, before any thread exists: SIGINT/SIGTERM at any point from here
  // on is a graceful stop with status 0, never a kill.
  StopSignals signals("the simulation");
  // The distribution's abseil is built without NDEBUG, so every absl::Mutex
  // (gRPC's locks) records lock-order edges in one global graph: ~10% of a
  // demo's CPU and a process-wide lock. Release abseil does not; neither
  // do we (it is a debugging aid, not a check of any input).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{
      "fedlearn simulation: coordinator + N virtual clients on one machine"};
  app.set_version_flag("--version", VersionLine("sim"));
  SimFlags flags;
  AddSimFlags(app, &flags);
  CLI11_PARSE(app, argc, argv);
  if (flags.print_config) {
    std::fputs(CoordinatorConfigReference().c_str(), stdout);
    return 0;
  }
  absl::StatusOr<SimMode> mode = ModeOfFlags(flags);
  if (!mode.ok()) return FailSimulation(mode.status());
  absl::StatusOr<CoordinatorConfig> config = LoadSimulationConfig(flags, *mode);
  if (!config.ok()) return FailSimulation(config.status());
  if (absl::Status s = ConfigureLogging(config->log_level, config->log_format);
      !s.ok()) {
    return FailSimulation(s);
  }
  // The simulation's own lines carry the progress: only warnings are logged.
  if (config->log_level == "info") spdlog::set_level(spdlog::level::warn);
  switch (*mode) {
    case SimMode::kClientsOnly:
      return RunClientsOnly(flags, *config, signals);
    case SimMode::kCoordinatorOnly:
      return RunCoordinatorOnly(flags, *std::move(config), signals);
    case SimMode::kSingleProcess:
      break;
  }
  return RunSingleProcess(flags, *std::move(config), signals);
}
