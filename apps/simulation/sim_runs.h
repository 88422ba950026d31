// fedlearn-sim's three ways to run (sim_flags.h SimMode), each a function
// that returns the process's exit status:
//   RunSingleProcess: the coordinator and all N virtual clients in this
//     process, over loopback gRPC with mutual TLS (the demo, research).
//   RunCoordinatorOnly: the simulation's coordinator alone (the same
//     configuration handling, enrolment of client-001..client-N, test-set
//     evaluator), for client pools started elsewhere.
//   RunClientsOnly: the virtual clients of one --client-range against a
//     coordinator elsewhere; exits 0 when the run finished, 1 if it failed
//     or the coordinator stayed unreachable (10 consecutive failures).
// Each prints its own progress on stdout (the single-process lines are the
// demo's, quoted in the README) and draws progress bars on a terminal only.
// SIGINT/SIGTERM (`signals`) stop any of them gracefully with status 0.
#ifndef FEDLEARN_APPS_SIMULATION_SIM_RUNS_H_
#define FEDLEARN_APPS_SIMULATION_SIM_RUNS_H_

#include "apps/simulation/sim_flags.h"
#include "apps/stop_signals.h"
#include "server/coordinator_config.h"

namespace fedlearn {

int RunSingleProcess(const SimFlags& flags, CoordinatorConfig config,
                     const StopSignals& signals);
int RunCoordinatorOnly(const SimFlags& flags, CoordinatorConfig config,
                       const StopSignals& signals);
int RunClientsOnly(const SimFlags& flags, const CoordinatorConfig& config,
                   const StopSignals& signals);

// Reports `status` as the program's final error (log.h ReportError: a
// "fedlearn-sim: <status>" line, or a JSON record); returns 1.
int FailSimulation(const absl::Status& status);

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_SIMULATION_SIM_RUNS_H_
