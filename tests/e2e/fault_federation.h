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
#include "tests/e2e/process.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn::testing_e2e {

struct FaultRunConfig {
  int rounds = 3;
  int min_clients = 4;
  int clients_per_round = 4;
  int min_updates = 3;
  int round_timeout_s = 60;
  int phase_timeout_s = 10;
  std::string extra_rounds;  // more [rounds] lines
};

class FaultFederation {
 public:
  static std::string Bin(const std::string& name) {
    return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
  }

  // Certificates for client-001 .. client-004.
  ::testing::AssertionResult Init() {
    Process certs({Bin("fedlearn-certs"), "init", "--out", dir_.File("certs"),
                   "--clients", "4"},
                  dir_.File("certs"));
    if (certs.Wait(std::chrono::seconds(60)) != 0) {
      return ::testing::AssertionFailure() << certs.Stderr();
    }
    return ::testing::AssertionSuccess();
  }

  void WriteConfig(const FaultRunConfig& c) {
    std::ofstream out(dir_.File("coordinator.toml"));
    out << "[run]\nid = \"faults\"\nrounds = " << c.rounds << "\nseed = 3\n"
        << "[rounds]\nmin_clients = " << c.min_clients
        << "\nclients_per_round = " << c.clients_per_round
        << "\nmin_updates = " << c.min_updates
        << "\ntimeout_s = " << c.round_timeout_s << "\n"
        << c.extra_rounds
        << "[secagg]\nenabled = true\nphase_timeout_s = " << c.phase_timeout_s
        << "\n[model]\narchitecture = \"logreg\"\n"
        << "[training]\nlearning_rate = 0.05\nmomentum = 0.5\n"
        << "batch_size = 64\n[evaluation]\ndataset = \"\"\n"
        << "[security]\nenrolled_clients = [\"client-001\", \"client-002\", "
           "\"client-003\", \"client-004\"]\n";
  }

  // Starts the coordinator (debug log: it names each secure-aggregation
  // phase as it enters it) and sets *port, 0 if it did not start.
  std::unique_ptr<Process> StartCoordinator(int* port) {
    *port = 0;
    auto p = std::make_unique<Process>(
        std::vector<std::string>{Bin("fedlearn-coordinator"), "--config",
                                 dir_.File("coordinator.toml"), "--certs",
                                 dir_.File("certs"), "--listen", "127.0.0.1:0",
                                 "--state-dir", dir_.File("state"),
                                 "--linger-s", "1", "--log-level", "debug"},
        dir_.File("coordinator"));
    const std::string needle = "listening on port ";
    if (!WaitForLog(*p, needle, std::chrono::seconds(60))) {
      ADD_FAILURE() << "coordinator did not start: " << p->Stderr();
      return p;
    }
    const std::string log = p->Stderr();
    *port = std::stoi(log.substr(log.find(needle) + needle.size()));
    return p;
  }

  // Client `index` (0-based: client-00<index+1>) dialling 127.0.0.1:port.
  // `log_name` names its log files (a restarted client gets a new name).
  std::unique_ptr<Process> StartClient(int index, int port,
                                       const std::string& log_name = "",
                                       std::vector<std::string> extra = {}) {
    const std::string id = ClientId(index);
    std::vector<std::string> argv = {Bin("fedlearn-client"),
                                     "--coordinator",
                                     "127.0.0.1:" + std::to_string(port),
                                     "--server-name",
                                     "localhost",
                                     "--certs",
                                     dir_.File("certs"),
                                     "--id",
                                     id,
                                     "--data",
                                     "fashion-mnist",
                                     "--partition",
                                     "iid",
                                     "--num-partitions",
                                     "30",
                                     "--partition-index",
                                     std::to_string(index),
                                     "--partition-seed",
                                     "5",
                                     "--max-failures",
                                     "100",
                                     "--model",
                                     "logreg"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(
        argv, dir_.File(log_name.empty() ? id : log_name));
  }

  static std::string ClientId(int index) {
    return "client-00" + std::to_string(index + 1);
  }

  // Polls the process's stderr (where spdlog writes) for `needle`, at or
  // after byte `from`; returns the offset just past it, or 0 on timeout or
  // exit.
  static size_t WaitForLog(Process& p, const std::string& needle,
                           std::chrono::milliseconds timeout, size_t from = 0) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      const std::string log = p.Stderr();
      const size_t at = log.find(needle, std::min(from, log.size()));
      if (at != std::string::npos) return at + needle.size();
      if (!p.running() || p.Wait(std::chrono::milliseconds(0)).has_value()) {
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
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
