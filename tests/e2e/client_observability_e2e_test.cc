// End to end, what an operator watches on a client daemon: --log-format json
// makes every stderr line of the real binaries one JSON object (also their
// final error), and --metrics-listen serves Prometheus text whose counts
// match the run the coordinator recorded (three sites over mutual TLS on
// 127.0.0.1, ports chosen by the OS).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/process.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using testing_e2e::Process;
using namespace std::chrono_literals;

std::string Bin(const std::string& name) {
  return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
}

// Every line of `text` parses as a JSON object with the log fields; returns
// the records.
std::vector<nlohmann::json> ExpectOnlyJsonLines(const std::string& text,
                                                const std::string& who) {
  std::vector<nlohmann::json> records;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.is_object()) {
      ADD_FAILURE() << who
                    << " wrote a line that is not a JSON object: " << line;
      continue;
    }
    for (const char* field : {"ts", "level", "logger", "msg", "pid"}) {
      EXPECT_TRUE(record.contains(field)) << who << ": " << line;
    }
    records.push_back(std::move(record));
  }
  return records;
}

// GET http://127.0.0.1:port/target (HTTP/1.0: the server closes); the
// whole response, or "" if the connection failed.
std::string HttpGet(int port, const std::string& target) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request =
        "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) ==
        static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) {
        response.append(buf, static_cast<size_t>(n));
      }
    }
  }
  close(fd);
  return response;
}

// The unlabelled and labelled samples of a /metrics body, by series.
std::map<std::string, double> Samples(const std::string& response) {
  std::map<std::string, double> out;
  const size_t body = response.find("\r\n\r\n");
  std::istringstream in(body == std::string::npos ? ""
                                                  : response.substr(body + 4));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

class ClientObservabilityE2eTest : public ::testing::Test {
 protected:
  std::string Dir() const { return dir_.path(); }
  testing_util::ScopedTempDir dir_;
};

TEST_F(ClientObservabilityE2eTest, JsonLogsAreOnlyJsonLinesUpToTheFinalError) {
  // Nothing listens on port 1: one failed contract fetch and it gives up.
  Process client(
      {Bin("fedlearn-client"), "--coordinator", "127.0.0.1:1", "--insecure",
       "--id", "site-\"q\"", "--max-failures", "1", "--log-format", "json"},
      Dir() + "/client");
  ASSERT_EQ(client.Wait(60s), 1) << client.Stderr();
  const std::vector<nlohmann::json> records =
      ExpectOnlyJsonLines(client.Stderr(), "fedlearn-client");
  ASSERT_FALSE(records.empty());
  const nlohmann::json& last = records.back();
  EXPECT_EQ(last["level"], "error");
  EXPECT_EQ(last["logger"], "fedlearn");
  EXPECT_NE(last["msg"].get<std::string>().find("giving up after 1"),
            std::string::npos)
      << last;
}

TEST_F(ClientObservabilityE2eTest, TextLogsStayTheDefault) {
  Process client({Bin("fedlearn-client"), "--coordinator", "127.0.0.1:1",
                  "--insecure", "--id", "site", "--max-failures", "1"},
                 Dir() + "/client");
  ASSERT_EQ(client.Wait(60s), 1) << client.Stderr();
  EXPECT_NE(client.Stderr().find("fedlearn-client: UNAVAILABLE: giving up"),
            std::string::npos)
      << client.Stderr();
  EXPECT_EQ(client.Stderr().find("{\"ts\""), std::string::npos);
}

TEST_F(ClientObservabilityE2eTest, UnknownLogFormatIsRefusedNamingTheChoices) {
  Process client({Bin("fedlearn-client"), "--log-format", "xml"},
                 Dir() + "/client");
  EXPECT_NE(client.Wait(60s), 0);
  EXPECT_NE(client.Stderr().find("text"), std::string::npos) << client.Stderr();
  EXPECT_NE(client.Stderr().find("json"), std::string::npos) << client.Stderr();
}

class ClientMetricsE2eTest : public ClientObservabilityE2eTest {
 protected:
  void SetUp() override {
    Process certs({Bin("fedlearn-certs"), "init", "--out", Dir() + "/certs",
                   "--clients", "3"},
                  Dir() + "/certs");
    ASSERT_EQ(certs.Wait(60s), 0) << certs.Stderr();
    std::ifstream csv(data_);
    std::string header;
    std::getline(csv, header);
    std::vector<std::string> columns = absl::StrSplit(header, ',');
    columns.pop_back();  // the label
    std::ofstream(Dir() + "/coordinator.toml")
        << "[run]\nid = \"observed\"\nrounds = " << kRounds << "\nseed = 5\n"
        << "[rounds]\nmin_clients = 3\nclients_per_round = 0\n"
        << "fraction = 1.0\nmin_updates = 3\ntimeout_s = 60\n"
        << "[secagg]\nphase_timeout_s = 10\n"
        << "[data]\nlabel_column = \"diagnosis\"\n"
        << "classes = [\"malignant\", \"benign\"]\n"
        << "numeric_features = [\"" << absl::StrJoin(columns, "\", \"")
        << "\"]\n"
        << "[model]\narchitecture = \"mlp\"\nhidden_units = 8\n"
        << "[training]\nlocal_epochs = 1\nbatch_size = 32\n"
        << "[evaluation]\ndataset = \"\"\n"
        << "[security]\nenrolled_clients = [\"client-001\", \"client-002\", "
           "\"client-003\"]\n";
  }

  std::unique_ptr<Process> StartSite(int i, int port,
                                     std::vector<std::string> extra) {
    const std::string id = "client-00" + std::to_string(i + 1);
    std::vector<std::string> argv = {Bin("fedlearn-client"),
                                     "--coordinator",
                                     "127.0.0.1:" + std::to_string(port),
                                     "--server-name",
                                     "localhost",
                                     "--certs",
                                     Dir() + "/certs",
                                     "--id",
                                     id,
                                     "--data",
                                     "csv",
                                     "--data-path",
                                     data_,
                                     "--partition",
                                     "iid",
                                     "--num-partitions",
                                     "3",
                                     "--partition-index",
                                     std::to_string(i),
                                     "--max-failures",
                                     "40",
                                     "--log-format",
                                     "json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(argv, Dir() + "/" + id);
  }

  static constexpr int kRounds = 2;
  const std::string data_ =
      std::string(FEDLEARN_SOURCE_DIR) + "/examples/hospital/breast_cancer.csv";
};

TEST_F(ClientMetricsE2eTest, ScrapedTaskCountIsTheRoundsTheSiteTookPartIn) {
  Process coordinator(
      {Bin("fedlearn-coordinator"), "--config", Dir() + "/coordinator.toml",
       "--certs", Dir() + "/certs", "--listen", "127.0.0.1:0", "--state-dir",
       Dir() + "/state", "--linger-s", "3", "--log-format", "json"},
      Dir() + "/coordinator");
  std::optional<std::string> listening =
      coordinator.WaitForOutput("listening on port ", 60s);
  ASSERT_TRUE(listening) << coordinator.Stderr();
  const int port =
      std::stoi(listening->substr(std::string("listening on port ").size()));
  std::vector<std::unique_ptr<Process>> sites;
  sites.push_back(StartSite(
      0, port,
      {"--metrics-listen", "127.0.0.1:0", "--metrics-linger-s", "60"}));
  for (int i = 1; i < 3; ++i) sites.push_back(StartSite(i, port, {}));
  std::optional<std::string> metrics_line =
      sites[0]->WaitForOutput("metrics on port ", 60s);
  ASSERT_TRUE(metrics_line) << sites[0]->Stderr();
  const int metrics_port =
      std::stoi(metrics_line->substr(std::string("metrics on port ").size()));

  ASSERT_EQ(coordinator.Wait(120s), 0) << coordinator.Stderr();
  for (int i = 1; i < 3; ++i) EXPECT_EQ(sites[i]->Wait(60s), 0);
  // Site 0 has left the run and lingers, still serving its final counts.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (sites[0]->Stderr().find("the run finished") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  const std::string response = HttpGet(metrics_port, "/metrics");
  ASSERT_NE(response.find("200 OK"), std::string::npos) << response;
  const std::map<std::string, double> samples = Samples(response);

  // What the coordinator recorded: every round had all three sites.
  int rounds = 0, secure_rounds = 0;
  std::ifstream metrics(Dir() + "/state/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const nlohmann::json round = nlohmann::json::parse(line);
    ASSERT_EQ(round["participants"], 3) << line;
    ++rounds;
    if (round.value("secure_aggregation", false)) ++secure_rounds;
  }
  ASSERT_EQ(rounds, kRounds);
  EXPECT_EQ(samples.at("fedlearn_client_tasks_completed_total"), rounds)
      << response;
  EXPECT_EQ(samples.at("fedlearn_client_secagg_rounds_total"), secure_rounds);
  EXPECT_EQ(samples.at("fedlearn_client_registrations_total"), 1);
  EXPECT_EQ(samples.at("fedlearn_client_training_duration_seconds_count"),
            rounds);
  EXPECT_GT(samples.at("fedlearn_client_training_seconds_total"), 0);
  EXPECT_GT(samples.at("fedlearn_client_sent_bytes_total"), 0);
  // At least the two global models (hidden_units = 8: > 250 floats each).
  EXPECT_GT(samples.at("fedlearn_client_received_bytes_total"),
            rounds * 250 * 4);
  for (const auto& [series, value] : samples) {
    if (series.rfind("fedlearn_client_tasks_refused_total", 0) == 0) {
      EXPECT_EQ(value, 0) << series;
    }
  }
  // A signal ends the linger (60 s) at once, with status 0.
  sites[0]->Signal(SIGTERM);
  EXPECT_EQ(sites[0]->Wait(10s), 0) << sites[0]->Stderr();
  // And every stderr line of the run, on every side, was a JSON record.
  ExpectOnlyJsonLines(coordinator.Stderr(), "fedlearn-coordinator");
  for (auto& site : sites) ExpectOnlyJsonLines(site->Stderr(), "site");
}

}  // namespace
}  // namespace fedlearn
