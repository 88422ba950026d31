// End to end: the real fedlearn-coordinator stops gracefully on SIGTERM --
// status 0 and a log line saying so -- whether it is waiting for clients or
// still starting up. (The client's side is pinned by federation_e2e_test's
// ClientExitsCleanlyOnSigtermWhileWaiting.) Plaintext on 127.0.0.1 with an
// OS-chosen port: no certificates or data are needed.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/e2e/process.h"

namespace fedlearn {
namespace {

using testing_e2e::Process;
using namespace std::chrono_literals;

std::string Bin(const std::string& name) {
  return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
}

constexpr char kConfig[] =
    "[run]\nid = \"sigterm\"\nrounds = 2\n"
    "[rounds]\nmin_clients = 3\nclients_per_round = 3\nmin_updates = 3\n"
    "[secagg]\nenabled = false\n"
    "[model]\narchitecture = \"logreg\"\n"
    "[evaluation]\ndataset = \"\"\n";

// Polls the process's stderr until it contains `needle` (false if the
// process ended or the time ran out first).
bool WaitForStderr(Process& p, const std::string& needle,
                   std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (p.Stderr().find(needle) != std::string::npos) return true;
    if (p.Wait(0ms).has_value()) return false;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

class CoordinatorSignalE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/e2e_signal_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Process> StartCoordinator(const std::string& config_path) {
    return std::make_unique<Process>(
        std::vector<std::string>{Bin("fedlearn-coordinator"), "--config",
                                 config_path, "--insecure", "--listen",
                                 "127.0.0.1:0", "--state-dir", dir_ + "/state"},
        dir_ + "/coordinator");
  }

  std::string dir_;
};

TEST_F(CoordinatorSignalE2eTest, SigtermWhileWaitingForClientsExitsZero) {
  {
    std::ofstream out(dir_ + "/coordinator.toml");
    out << kConfig;
  }
  auto coordinator = StartCoordinator(dir_ + "/coordinator.toml");
  ASSERT_TRUE(coordinator->WaitForOutput("listening on port ", 60s))
      << coordinator->Stderr();
  ASSERT_TRUE(WaitForStderr(*coordinator, "waiting for clients", 30s))
      << coordinator->Stderr();

  coordinator->Signal(SIGTERM);
  EXPECT_EQ(coordinator->Wait(30s), 0) << coordinator->Stderr();
  const std::string log = coordinator->Stderr();
  EXPECT_NE(log.find("received SIGTERM: stopping the coordinator gracefully"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("stopped by SIGTERM after round 0"), std::string::npos)
      << log;
  EXPECT_NE(coordinator->Stdout().find("stopped by signal; run 'sigterm' "
                                       "resumes from"),
            std::string::npos);
}

// The configuration is a FIFO, so the coordinator blocks reading it: the
// signal arrives, deterministically, before the server exists. Without its
// handling from main()'s first line the process was killed by the signal.
TEST_F(CoordinatorSignalE2eTest, SigtermDuringStartupExitsZero) {
  const std::string fifo = dir_ + "/coordinator.toml";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto coordinator = StartCoordinator(fifo);
  ASSERT_TRUE(coordinator->started());

  // Opening the write end succeeds once the coordinator opened the read end:
  // its main() is running and blocked on the configuration.
  int fd = -1;
  for (int i = 0; i < 3000 && fd < 0 && coordinator->running(); ++i) {
    fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) std::this_thread::sleep_for(10ms);
  }
  ASSERT_GE(fd, 0) << "the coordinator never opened its configuration: "
                   << coordinator->Stderr();

  coordinator->Signal(SIGTERM);
  const bool logged =
      WaitForStderr(*coordinator, "received SIGTERM: stopping", 30s);
  // Finish the configuration (a dead reader must not kill the test).
  signal(SIGPIPE, SIG_IGN);
  const std::string text = kConfig;
  (void)!write(fd, text.data(), text.size());
  close(fd);

  EXPECT_TRUE(logged) << coordinator->Stderr();
  EXPECT_EQ(coordinator->Wait(30s), 0) << coordinator->Stderr();
  EXPECT_NE(
      coordinator->Stderr().find("stopped by SIGTERM before the run started"),
      std::string::npos)
      << coordinator->Stderr();
}

}  // namespace
}  // namespace fedlearn
