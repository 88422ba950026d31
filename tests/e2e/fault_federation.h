// Scaffolding for the fault-injection end-to-end tests: a test's own
// directory (ScopedTempDir), certificates from `fedlearn-certs` for four
// clients, a secure-aggregation coordinator config (logistic regression on
// Fashion-MNIST, the cheapest real model and data the e2e tests use), and
// the real coordinator and client processes on 127.0.0.1 with OS-chosen
// ports. Clients dial whatever port they are given (the coordinator's, or a
// TcpFaultProxy's) with --server-name localhost, which the coordinator's
// certificate names.
//
// The run record it reads back: metrics.jsonl (one line per released
// round) and the saved round models. Not thread-safe: one test thread.
#ifndef FEDLEARN_TESTS_E2E_FAULT_FEDERATION_H_
#define FEDLEARN_TESTS_E2E_FAULT_FEDERATION_H_

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/util/atomic_file.h"
#include "common/wire/model_file.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/federation_processes.h"
#include "tests/e2e/process.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn::testing_e2e {

// A secure-aggregation run of four clients, threshold 3 (FederationToml's
// other defaults: logistic regression, phase timeout 10 s).
struct FaultRunConfig : FederationToml {
  FaultRunConfig() {
    run_id = "faults";
    rounds = 3;
    min_clients = 4;
    clients_per_round = 4;
    min_updates = 3;
    round_timeout_s = 60;
  }
};

class FaultFederation {
 public:
  // Certificates for client-001 .. client-004.
  ::testing::AssertionResult Init() {
    return MakeCertificates(dir_.File("certs"), 4);
  }

  void WriteConfig(const FaultRunConfig& c) {
    WriteFederationToml(dir_.File("coordinator.toml"), c);
  }

  // Starts the coordinator (debug log: it names each secure-aggregation
  // phase as it enters it) and sets *port, 0 if it did not start.
  std::unique_ptr<Process> StartCoordinator(int* port) {
    auto p = StartListeningCoordinator(
        CoordinatorCommand(dir_.path(), "127.0.0.1:0", dir_.File("state"),
                           {"--linger-s", "1", "--log-level", "debug"}),
        [this](int) { return dir_.File("coordinator"); }, port);
    if (*port == 0)
      ADD_FAILURE() << "coordinator did not start: " << p->Stderr();
    return p;
  }

  // Init(), WriteConfig(config) and StartCoordinator(port): the coordinator
  // of a fault test, nullptr (with the failure added) if any step failed.
  std::unique_ptr<Process> StartRun(const FaultRunConfig& config, int* port) {
    *port = 0;
    if (::testing::AssertionResult certs = Init(); !certs) {
      ADD_FAILURE() << "fedlearn-certs failed: " << certs.message();
      return nullptr;
    }
    WriteConfig(config);
    std::unique_ptr<Process> coordinator = StartCoordinator(port);
    return *port > 0 ? std::move(coordinator) : nullptr;
  }

  // Client `index` (0-based: client-00<index+1>) dialling 127.0.0.1:port.
  // `log_name` names its log files (a restarted client gets a new name).
  std::unique_ptr<Process> StartClient(int index, int port,
                                       const std::string& log_name = "",
                                       std::vector<std::string> extra = {}) {
    const std::string id = ClientId(index);
    std::vector<std::string> argv = ClientCommand(port, dir_.File("certs"), id);
    Append(&argv, FashionMnistPartition(index));
    Append(&argv, {"--max-failures", "100", "--model", "logreg"});
    Append(&argv, extra);
    return std::make_unique<Process>(
        argv, dir_.File(log_name.empty() ? id : log_name));
  }

  static std::string ClientId(int index) {
    return "client-00" + std::to_string(index + 1);
  }

  // Polls the process's stderr for `needle` at or after byte `from`: see
  // testing_e2e::WaitForLog.
  static size_t WaitForLog(Process& p, const std::string& needle,
                           std::chrono::milliseconds timeout, size_t from = 0) {
    return testing_e2e::WaitForLog(p, needle, timeout, from);
  }

  // metrics.jsonl, one object per line.
  std::vector<nlohmann::json> Metrics() const {
    std::vector<nlohmann::json> rows;
    auto text = ReadFileToString(dir_.File("state/metrics.jsonl"));
    if (!text.ok()) return rows;
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
    }
    return rows;
  }

  // Rounds 1..rounds each released once, in order; the final model is
  // finite and differs from the initial one.
  void ExpectCompleteRunWithValidModel(int rounds, int min_participants) {
    const std::vector<nlohmann::json> rows = Metrics();
    ASSERT_EQ(static_cast<int>(rows.size()), rounds);
    for (int i = 0; i < rounds; ++i) {
      EXPECT_EQ(rows[i]["round"].get<int>(), i + 1);
      EXPECT_GE(rows[i]["participants"].get<int>(), min_participants);
    }
    auto initial = ReadModelFile(ModelPath(0));
    auto last = ReadModelFile(ModelPath(rounds));
    ASSERT_TRUE(initial.ok()) << initial.status();
    ASSERT_TRUE(last.ok()) << last.status();
    ASSERT_EQ(initial->model.values.size(), last->model.values.size());
    double moved = 0;
    for (size_t j = 0; j < last->model.values.size(); ++j) {
      ASSERT_TRUE(std::isfinite(last->model.values[j])) << "value " << j;
      moved = std::max<double>(
          moved, std::abs(last->model.values[j] - initial->model.values[j]));
    }
    EXPECT_GT(moved, 1e-4) << "the run left the model unchanged";
  }

  std::string ModelPath(int round) const {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "state/models/round-%06d.fmodel", round);
    return dir_.File(buf);
  }
  const testing_util::ScopedTempDir& dir() const { return dir_; }

 private:
  testing_util::ScopedTempDir dir_;
};

}  // namespace fedlearn::testing_e2e

#endif  // FEDLEARN_TESTS_E2E_FAULT_FEDERATION_H_
