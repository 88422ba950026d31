// End to end: fedlearn-coordinator --metrics-listen serves /metrics,
// /healthz and /readyz on the port it prints, and refuses a bad address
// with its name. Plaintext on 127.0.0.1 with OS-chosen ports; the real
// Prometheus server's view is tests/e2e/prometheus_scrape_test.py.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/process.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing_e2e::Process;
using namespace std::chrono_literals;

std::string Bin(const std::string& name) {
  return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
}

constexpr char kConfig[] =
    "[run]\nid = \"metrics-e2e\"\nrounds = 2\n"
    "[rounds]\nmin_clients = 3\nclients_per_round = 3\nmin_updates = 3\n"
    "[secagg]\nenabled = false\n"
    "[model]\narchitecture = \"logreg\"\n"
    "[evaluation]\ndataset = \"\"\n";

// The whole response to `GET target` on 127.0.0.1:port, or nullopt if the
// connection is refused.
std::optional<std::string> HttpGet(int port, const std::string& target) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return std::nullopt;
  }
  const std::string request =
      "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, n);
  close(fd);
  return response;
}

class CoordinatorMetricsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/e2e_metrics_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/coordinator.toml") << kConfig;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Process> StartCoordinator(const std::string& metrics) {
    return std::make_unique<Process>(
        std::vector<std::string>{Bin("fedlearn-coordinator"), "--config",
                                 dir_ + "/coordinator.toml", "--insecure",
                                 "--listen", "127.0.0.1:0", "--state-dir",
                                 dir_ + "/state", "--metrics-listen", metrics},
        dir_ + "/coordinator");
  }

  std::string dir_;
};

TEST_F(CoordinatorMetricsE2eTest, ServesMetricsHealthAndReadinessOnItsPort) {
  auto coordinator = StartCoordinator("127.0.0.1:0");
  constexpr char kLine[] = "metrics on http://127.0.0.1:";
  std::optional<std::string> line = coordinator->WaitForOutput(kLine, 60s);
  ASSERT_TRUE(line) << coordinator->Stdout() << coordinator->Stderr();
  const int port = std::stoi(line->substr(sizeof(kLine) - 1));
  ASSERT_GT(port, 0);
  EXPECT_THAT(*line, HasSubstr("/metrics\n"));

  std::optional<std::string> metrics = HttpGet(port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(*metrics, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(*metrics, HasSubstr("\nfedlearn_run_info{run_id=\"metrics-e2e\","
                                  "aggregation=\"plain\",dp=\"off\"} 1\n"));
  EXPECT_THAT(*metrics, HasSubstr("\nfedlearn_clients_registered 0\n"));
  EXPECT_THAT(*metrics, HasSubstr("\nfedlearn_rounds_configured 2\n"));
  EXPECT_THAT(*metrics, HasSubstr("\nfedlearn_rounds_completed_total 0\n"));
  EXPECT_THAT(HttpGet(port, "/healthz").value_or(""),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(HttpGet(port, "/readyz").value_or(""),
              StartsWith("HTTP/1.1 200 OK\r\n"));

  coordinator->Signal(SIGTERM);
  EXPECT_EQ(coordinator->Wait(30s), 0) << coordinator->Stderr();
  EXPECT_FALSE(HttpGet(port, "/healthz").has_value());  // closed with it
}

TEST_F(CoordinatorMetricsE2eTest, BadMetricsAddressFailsNamingIt) {
  auto coordinator = StartCoordinator("localhost:not-a-port");
  EXPECT_EQ(coordinator->Wait(60s), 1);
  EXPECT_THAT(coordinator->Stderr(), HasSubstr("'localhost:not-a-port'"));
  EXPECT_THAT(coordinator->Stdout(), Not(HasSubstr("metrics on")));
}

}  // namespace
}  // namespace fedlearn
