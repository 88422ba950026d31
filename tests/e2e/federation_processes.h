// What the end-to-end tests that run a real federation share: the built
// binaries' paths, certificates from `fedlearn-certs`, the coordinator TOML
// of a Fashion-MNIST run, the coordinator started until it prints its port
// (on port 0, or on a fixed port below Linux's ephemeral range, retried
// while another process holds it), the client command line, and polling a
// process's log. Everything binds 127.0.0.1 only.
//
// Guarantees: no fixed sleeps stand in for an event; every wait has a
// deadline and returns (false / 0 / nullptr port) instead of hanging. Not
// thread-safe: one test thread drives the processes.
#ifndef FEDLEARN_TESTS_E2E_FEDERATION_PROCESSES_H_
#define FEDLEARN_TESTS_E2E_FEDERATION_PROCESSES_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/process.h"

namespace fedlearn::testing_e2e {

inline std::string BinaryPath(const std::string& name) {
  return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
}

// `fedlearn-certs init`: a CA, the server's certificate and client-001 ..
// client-00<clients> in `out`.
inline ::testing::AssertionResult MakeCertificates(const std::string& out,
                                                   int clients) {
  Process certs({BinaryPath("fedlearn-certs"), "init", "--out", out,
                 "--clients", std::to_string(clients)},
                out);
  if (certs.Wait(std::chrono::seconds(60)) != 0) {
    return ::testing::AssertionFailure() << certs.Stderr();
  }
  return ::testing::AssertionSuccess();
}

// A coordinator config for client-001 .. client-004 training on Fashion-MNIST
// (logistic regression unless `model` says otherwise).
struct FederationToml {
  std::string run_id = "e2e";
  int rounds = 2;
  int min_clients = 3;
  int clients_per_round = 3;
  int min_updates = 3;
  int round_timeout_s = 120;
  std::string extra_rounds;  // more [rounds] lines
  bool secure = true;
  int phase_timeout_s = 10;
  std::string extra_secagg;                         // more [secagg] lines
  std::string model = "architecture = \"logreg\"";  // the [model] lines
};

inline void WriteFederationToml(const std::string& path,
                                const FederationToml& c) {
  std::ofstream out(path);
  out << "[run]\nid = \"" << c.run_id << "\"\nrounds = " << c.rounds
      << "\nseed = 3\n"
      << "[rounds]\nmin_clients = " << c.min_clients
      << "\nclients_per_round = " << c.clients_per_round
      << "\nmin_updates = " << c.min_updates
      << "\ntimeout_s = " << c.round_timeout_s << "\n"
      << c.extra_rounds
      << "[secagg]\nenabled = " << (c.secure ? "true" : "false")
      << "\nphase_timeout_s = " << c.phase_timeout_s << "\n"
      << c.extra_secagg << "[model]\n"
      << c.model << "\n"
      << "[training]\nlearning_rate = 0.05\nmomentum = 0.5\nbatch_size = 64\n"
      << "[evaluation]\ndataset = \"\"\n"
      << "[security]\nenrolled_clients = [\"client-001\", \"client-002\", "
         "\"client-003\", \"client-004\"]\n";
}

// A loopback port that was free a moment ago, for a coordinator that is
// restarted on the port its clients dial. Taken below Linux's ephemeral
// range (32768-60999), so that while the coordinator is down no other
// test's bind to port 0, nor any outgoing connection, is handed it.
inline int FreePortBelowEphemeralRange() {
  std::mt19937 rng(static_cast<uint32_t>(getpid()) ^
                   static_cast<uint32_t>(time(nullptr)));
  std::uniform_int_distribution<int> pick(20000, 32000);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(pick(rng)));
    const bool free =
        bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (free) return ntohs(addr.sin_port);
  }
  return 0;
}

// fedlearn-coordinator with the config and certificates of `dir`
// (dir/coordinator.toml, dir/certs), listening on `listen`, then `flags`.
inline std::vector<std::string> CoordinatorCommand(
    const std::string& dir, const std::string& listen,
    const std::string& state_dir, std::vector<std::string> flags) {
  std::vector<std::string> argv = {BinaryPath("fedlearn-coordinator"),
                                   "--config",
                                   dir + "/coordinator.toml",
                                   "--certs",
                                   dir + "/certs",
                                   "--listen",
                                   listen,
                                   "--state-dir",
                                   state_dir};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return argv;
}

// Starts `argv` (a coordinator) and waits for its "listening on port N" line;
// sets *port to N (0 if it did not start). A start refused with "cannot
// listen on" (a fixed port another process held for a moment) is tried
// again, up to `attempts` times; log_prefix(attempt) names each try's logs.
inline std::unique_ptr<Process> StartListeningCoordinator(
    const std::vector<std::string>& argv,
    const std::function<std::string(int)>& log_prefix, int* port,
    int attempts = 1,
    std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const std::string needle = "listening on port ";
  *port = 0;
  std::unique_ptr<Process> p;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    p = std::make_unique<Process>(argv, log_prefix(attempt));
    if (std::optional<std::string> line = p->WaitForOutput(needle, timeout)) {
      *port = std::stoi(line->substr(needle.size()));
      return p;
    }
    if (p->Stderr().find("cannot listen on") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return p;
}

// fedlearn-client as client `id`, dialling 127.0.0.1:port with the
// certificates in `certs` (the coordinator's names "localhost").
inline std::vector<std::string> ClientCommand(int port,
                                              const std::string& certs,
                                              const std::string& id) {
  return {BinaryPath("fedlearn-client"),
          "--coordinator",
          "127.0.0.1:" + std::to_string(port),
          "--server-name",
          "localhost",
          "--certs",
          certs,
          "--id",
          id};
}

// Client `index`'s share of Fashion-MNIST: one of 30 IID partitions.
inline std::vector<std::string> FashionMnistPartition(int index) {
  return {"--data",
          "fashion-mnist",
          "--partition",
          "iid",
          "--num-partitions",
          "30",
          "--partition-index",
          std::to_string(index),
          "--partition-seed",
          "5"};
}

inline void Append(std::vector<std::string>* argv,
                   const std::vector<std::string>& more) {
  argv->insert(argv->end(), more.begin(), more.end());
}

// Polls the process's stderr (where spdlog writes) for `needle`, at or after
// byte `from`, every `poll`; returns the offset just past it, or 0 on
// timeout or exit.
inline size_t WaitForLog(
    Process& p, const std::string& needle, std::chrono::milliseconds timeout,
    size_t from = 0,
    std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    const std::string log = p.Stderr();
    const size_t at = log.find(needle, std::min(from, log.size()));
    if (at != std::string::npos) return at + needle.size();
    if (!p.running() || p.Wait(std::chrono::milliseconds(0)).has_value()) {
      return 0;
    }
    std::this_thread::sleep_for(poll);
  }
  return 0;
}

}  // namespace fedlearn::testing_e2e

#endif  // FEDLEARN_TESTS_E2E_FEDERATION_PROCESSES_H_
