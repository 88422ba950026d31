// End to end: the real binaries as separate processes on 127.0.0.1, with
// certificates from `fedlearn-certs`, mutual TLS, real Fashion-MNIST data.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "common/models/scripted_model_builder.h"
#include "common/util/atomic_file.h"
#include "common/wire/model_file.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/audit/auditing_round_listener.h"
#include "tests/e2e/federation_processes.h"
#include "tests/e2e/process.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using testing_e2e::BinaryPath;
using testing_e2e::Process;
using namespace std::chrono_literals;

class FederationE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing_e2e::MakeCertificates(dir_ + "/certs", 4));
  }
  // On a failure, every process's log: the assertions print only the one
  // they check.
  void TearDown() override {
    if (!HasFailure()) return;
    for (const std::string& path : logs_) {
      std::cout << "----- " << path << "\n" << SlurpLog(path) << "\n";
    }
  }

  void WriteConfig(const std::string& extra_model, bool secure = true,
                   int clients = 3, int min_updates = 3,
                   const std::string& extra_secagg = "") {
    testing_e2e::FederationToml toml;
    toml.min_clients = clients;
    toml.clients_per_round = clients;
    toml.min_updates = min_updates;
    toml.secure = secure;
    toml.extra_secagg = extra_secagg;
    toml.model = extra_model;
    testing_e2e::WriteFederationToml(dir_ + "/coordinator.toml", toml);
  }

  // The coordinator on `port` (0: the OS picks; *port is set either way),
  // its logs under `name`; a fixed port another process holds for a moment
  // is tried again.
  std::unique_ptr<Process> StartCoordinator(
      int* port, const std::string& name = "coordinator") {
    const int listen = *port;
    auto p = testing_e2e::StartListeningCoordinator(
        testing_e2e::CoordinatorCommand(dir_,
                                        "127.0.0.1:" + std::to_string(listen),
                                        dir_ + "/state", {"--linger-s", "4"}),
        [&](int attempt) {
          const std::string prefix =
              dir_ + "/" + name + "-" + std::to_string(attempt);
          logs_.push_back(prefix + ".err");
          return prefix;
        },
        port, listen == 0 ? 1 : 10);
    if (*port == 0)
      ADD_FAILURE() << "coordinator did not start: " << p->Stderr();
    return p;
  }

  std::unique_ptr<Process> StartClient(int index, int port,
                                       std::vector<std::string> model_args) {
    const std::string id = "client-00" + std::to_string(index + 1);
    std::vector<std::string> argv =
        testing_e2e::ClientCommand(port, dir_ + "/certs", id);
    testing_e2e::Append(&argv, testing_e2e::FashionMnistPartition(index));
    testing_e2e::Append(&argv,
                        {"--record-updates-dir", dir_ + "/recorded/" + id,
                         "--max-failures", "40"});
    testing_e2e::Append(&argv, model_args);
    logs_.push_back(dir_ + "/" + id + ".err");
    return std::make_unique<Process>(argv, dir_ + "/" + id);
  }

  static std::string SlurpLog(const std::string& path) {
    auto text = ReadFileToString(path);
    return text.ok() ? *text : "(no log)";
  }

  // Starts the coordinator and `count` clients (passing `client_args`) and
  // expects every process to finish the run cleanly. Returns the
  // coordinator's log.
  std::string RunFederation(int count,
                            const std::vector<std::string>& client_args) {
    int port = 0;
    auto coordinator = StartCoordinator(&port);
    if (port == 0) return "";
    std::vector<std::unique_ptr<Process>> clients;
    for (int i = 0; i < count; ++i)
      clients.push_back(StartClient(i, port, client_args));
    EXPECT_EQ(coordinator->Wait(180s), 0) << coordinator->Stderr();
    for (auto& c : clients) EXPECT_EQ(c->Wait(60s), 0) << c->Stderr();
    return coordinator->Stderr();
  }

  // round-N model == round-(N-1) model + sum(n_i * delta_i) / sum(n_i), over
  // the clients in `ids` (1-based), to within `tolerance` (0 for plaintext
  // FedAvg up to float rounding; the quantization step under secure
  // aggregation).
  void ExpectRoundIsWeightedMeanOfReportedUpdates(uint64_t round,
                                                  std::vector<int> ids = {1, 2,
                                                                          3},
                                                  double tolerance = 1e-5) {
    auto before = ReadModelFile(ModelPath(round - 1));
    auto after = ReadModelFile(ModelPath(round));
    ASSERT_TRUE(before.ok()) << before.status();
    ASSERT_TRUE(after.ok()) << after.status();
    const size_t d = before->model.values.size();
    std::vector<double> sum(d, 0.0);
    double total = 0;
    int clients = 0;
    for (int i : ids) {
      const std::string stem = dir_ + "/recorded/client-00" +
                               std::to_string(i) + "/round-00000" +
                               std::to_string(round);
      auto delta = ReadModelFile(stem + ".delta.fmodel");
      ASSERT_TRUE(delta.ok()) << delta.status();
      auto meta = ReadFileToString(stem + ".json");
      ASSERT_TRUE(meta.ok());
      const double n =
          nlohmann::json::parse(*meta)["num_examples"].get<double>();
      ASSERT_GT(n, 0);
      ASSERT_EQ(delta->model.values.size(), d);
      for (size_t j = 0; j < d; ++j) sum[j] += n * delta->model.values[j];
      total += n;
      ++clients;
    }
    ASSERT_EQ(clients, static_cast<int>(ids.size()));
    double max_err = 0, max_delta = 0;
    for (size_t j = 0; j < d; ++j) {
      const double expected = before->model.values[j] + sum[j] / total;
      max_err = std::max(max_err, std::abs(expected - after->model.values[j]));
      max_delta = std::max(max_delta, std::abs(sum[j] / total));
    }
    EXPECT_GT(max_delta, 1e-4)
        << "the round changed nothing: test would be vacuous";
    EXPECT_LT(max_err, tolerance)
        << "round " << round << " is not the weighted mean";
  }

  // `fedlearn-audit verify` passes on the run's audit log, against the head
  // the coordinator logged at the end (`coordinator_log`); each release
  // names the model saved for its round; a copy with one edited byte fails.
  void ExpectAuditLogVerifies(int rounds, const std::string& coordinator_log) {
    const std::string log = dir_ + "/state/audit.jsonl";
    const size_t at = coordinator_log.rfind(" entries, head ");
    ASSERT_NE(at, std::string::npos) << "no audit head in the coordinator log";
    const size_t from = at + std::string(" entries, head ").size();
    const std::string head = coordinator_log.substr(
        from, coordinator_log.find_first_of(" \n", from) - from);
    Process verify(
        {BinaryPath("fedlearn-audit"), "verify", log, "--expect-head", head},
        dir_ + "/audit");
    ASSERT_EQ(verify.Wait(30s), 0) << verify.Stdout() << verify.Stderr();
    auto text = ReadFileToString(log);
    ASSERT_TRUE(text.ok());
    std::istringstream lines(*text);
    std::map<std::string, int> events;
    for (std::string line; std::getline(lines, line);) {
      const nlohmann::json j = nlohmann::json::parse(line);
      ++events[j["event"].get<std::string>()];
      if (j["event"] != "round_released") continue;
      auto model = ReadModelFile(ModelPath(j["details"]["round"].get<int>()));
      ASSERT_TRUE(model.ok()) << model.status();
      EXPECT_EQ(j["details"]["model_sha256"],
                ModelValuesSha256(model->model.values.span()));
    }
    EXPECT_EQ(events["round_released"], rounds);
    EXPECT_GE(events["round_started"], rounds);
    EXPECT_EQ(events["run_ended"], 1);

    std::filesystem::create_directories(dir_ + "/tampered");
    const std::string copy = dir_ + "/tampered/audit.jsonl";
    std::string edited = *text;
    edited[edited.find("\"participants\":") + 15] ^= 1;
    ASSERT_TRUE(WriteFileAtomically(copy, edited).ok());
    std::filesystem::copy_file(log + ".head", copy + ".head");
    Process tampered({BinaryPath("fedlearn-audit"), "verify", copy},
                     dir_ + "/audit-tampered");
    EXPECT_EQ(tampered.Wait(30s), 1) << tampered.Stdout() << tampered.Stderr();
    EXPECT_NE(tampered.Stdout().find("first bad line"), std::string::npos);
  }

  std::string ModelPath(uint64_t round) const {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "/state/models/round-%06d.fmodel",
                  static_cast<int>(round));
    return dir_ + buf;
  }

  testing_util::ScopedTempDir temp_;
  const std::string dir_ = temp_.path();
  std::vector<std::string> logs_;  // every process's stderr, in start order
};

// Quantization bound of the default encoding (q = 20, clip 1): each of n
// values rounds by < 1 step of 1/(2^19 - 1), divided by the total weight
// (3 clients x 2000/10000 examples).
constexpr double kSecureTolerance = 3.0 / ((1 << 19) - 1) / 0.6 * 1.5;

TEST_F(FederationE2eTest,
       TwoRoundsOverMutualTlsSaveTheWeightedMeanOfClientUpdates) {
  WriteConfig("architecture = \"logreg\"", /*secure=*/false);
  const std::string log = RunFederation(3, {"--model", "logreg"});
  EXPECT_EQ(log.find("secure aggregation over"), std::string::npos)
      << "this test pins the plaintext path";
  ExpectRoundIsWeightedMeanOfReportedUpdates(1);
  ExpectRoundIsWeightedMeanOfReportedUpdates(2);
  ExpectAuditLogVerifies(2, log);

  auto metrics = ReadFileToString(dir_ + "/state/metrics.jsonl");
  ASSERT_TRUE(metrics.ok());
  std::istringstream lines(*metrics);
  std::string line;
  int rounds = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["participants"], 3);
    EXPECT_EQ(j["round"], ++rounds);
  }
  EXPECT_EQ(rounds, 2);
}

TEST_F(FederationE2eTest, TorchScriptModuleBuiltInCppIsFederated) {
  const std::string module = dir_ + "/linear.pt";
  ASSERT_TRUE(SaveScriptedLinearClassifier(module, 784, 10, 7).ok());
  WriteConfig("architecture = \"torchscript\"\ntorchscript = \"" + module +
              "\"");
  RunFederation(3, {"--torchscript", module});
  ExpectRoundIsWeightedMeanOfReportedUpdates(2, {1, 2, 3}, kSecureTolerance);
}

TEST_F(FederationE2eTest, ClientExitsCleanlyOnSigtermWhileWaiting) {
  WriteConfig("architecture = \"logreg\"");
  int port = 0;
  auto coordinator = StartCoordinator(&port);  // waits for 3 clients forever
  ASSERT_GT(port, 0);
  auto client = StartClient(0, port, {"--model", "logreg"});
  ASSERT_TRUE(client->started());
  // Registered and polling (the coordinator logs the registration; loading
  // the data set first takes seconds on a loaded machine).
  ASSERT_GT(
      testing_e2e::WaitForLog(*coordinator, "client-001 registered", 120s), 0u)
      << coordinator->Stderr() << client->Stderr();
  client->Signal(SIGTERM);
  EXPECT_EQ(client->Wait(15s), 0) << client->Stderr();
  coordinator->Signal(SIGTERM);
  EXPECT_TRUE(coordinator->Wait(15s).has_value());
}

TEST_F(FederationE2eTest, CoordinatorKilledMidRunResumesFromItsCheckpoint) {
  WriteConfig("architecture = \"logreg\"");
  // Three rounds this time.
  {
    std::string text = *ReadFileToString(dir_ + "/coordinator.toml");
    text.replace(text.find("rounds = 2"), 10, "rounds = 3");
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/coordinator.toml", text).ok());
  }
  // The clients dial the same port after the restart: one below the
  // ephemeral range, so that while the coordinator is down no other test's
  // bind to port 0 (nor an outgoing connection) is handed it.
  const int fixed_port = testing_e2e::FreePortBelowEphemeralRange();
  ASSERT_GT(fixed_port, 0);
  int port = fixed_port;
  auto coordinator = StartCoordinator(&port);
  ASSERT_EQ(port, fixed_port);
  std::vector<std::unique_ptr<Process>> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(StartClient(i, port, {"--model", "logreg"}));
  ASSERT_TRUE(coordinator->WaitForOutput("round   1/3", 120s).has_value())
      << coordinator->Stderr();
  coordinator->Signal(SIGKILL);  // a crash, not a shutdown
  coordinator->Wait(10s);

  // Restart on the same port: clients reconnect (backoff) and re-register.
  // StartCoordinator tries again while another process holds the port.
  std::unique_ptr<Process> restarted = StartCoordinator(&port, "coordinator2");
  ASSERT_EQ(port, fixed_port) << restarted->Stderr();
  EXPECT_EQ(restarted->Wait(180s), 0) << restarted->Stderr();
  EXPECT_NE(restarted->Stderr().find("resuming run 'e2e' after round"),
            std::string::npos)
      << restarted->Stderr();
  for (auto& c : clients) EXPECT_EQ(c->Wait(60s), 0) << c->Stderr();
  ExpectRoundIsWeightedMeanOfReportedUpdates(3, {1, 2, 3}, kSecureTolerance);
}

TEST_F(FederationE2eTest,
       SecureAggregationRoundsSaveTheWeightedMeanWithinQuantizationError) {
  WriteConfig("architecture = \"logreg\"", /*secure=*/true);
  const std::string log = RunFederation(3, {"--model", "logreg"});
  EXPECT_NE(log.find("secure aggregation over 3 clients"), std::string::npos);
  ExpectRoundIsWeightedMeanOfReportedUpdates(1, {1, 2, 3}, kSecureTolerance);
  ExpectRoundIsWeightedMeanOfReportedUpdates(2, {1, 2, 3}, kSecureTolerance);
}

TEST_F(FederationE2eTest, SixteenBitSecureAggregationSavesTheWeightedMean) {
  // b = 16 sends 2 bytes per value; q = 12 keeps 3 clients from overflowing.
  WriteConfig("architecture = \"logreg\"", /*secure=*/true, 3, 3,
              "modulus_bits = 16\nquantization_bits = 12\n");
  const std::string log = RunFederation(3, {"--model", "logreg"});
  EXPECT_NE(log.find("b=16"), std::string::npos);
  // Step 1/(2^11 - 1) per value, 3 values, total weight 0.6; the weight
  // element rounds too, hence the factor 2.
  ExpectRoundIsWeightedMeanOfReportedUpdates(2, {1, 2, 3},
                                             2 * 3.0 / ((1 << 11) - 1) / 0.6);
}

TEST_F(FederationE2eTest, SecureRoundCompletesWhenAClientDiesAfterSharingKeys) {
  // Four clients, full graph, threshold 3: one may drop after sharing keys.
  WriteConfig("architecture = \"logreg\"", /*secure=*/true, /*clients=*/4,
              /*min_updates=*/3);
  {
    std::string text = *ReadFileToString(dir_ + "/coordinator.toml");
    text.replace(text.find("rounds = 2"), 10, "rounds = 1");
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/coordinator.toml", text).ok());
  }
  int port = 0;
  auto coordinator = StartCoordinator(&port);
  ASSERT_GT(port, 0);
  std::vector<std::unique_ptr<Process>> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(StartClient(i, port, {"--model", "logreg"}));
  clients.push_back(StartClient(
      3, port,
      {"--model", "logreg", "--testing-exit-after-secagg-messages", "2"}));
  EXPECT_EQ(clients[3]->Wait(120s), 17)
      << clients[3]->Stderr();  // died on purpose
  EXPECT_EQ(coordinator->Wait(180s), 0) << coordinator->Stderr();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(clients[i]->Wait(60s), 0) << clients[i]->Stderr();

  auto metrics = ReadFileToString(dir_ + "/state/metrics.jsonl");
  ASSERT_TRUE(metrics.ok());
  auto j = nlohmann::json::parse(metrics->substr(0, metrics->find('\n')));
  EXPECT_EQ(j["selected"], 4);
  EXPECT_EQ(j["participants"], 3);
  // The dead client's update (recorded before it died) is not in the sum.
  ExpectRoundIsWeightedMeanOfReportedUpdates(1, {1, 2, 3}, kSecureTolerance);
}

}  // namespace
}  // namespace fedlearn
