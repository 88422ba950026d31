// End to end, server optimizers: the real `fedlearn-sim` (coordinator and
// three virtual clients over loopback gRPC), logistic regression on
// Fashion-MNIST, [strategy] name = "fedadam" set in TOML as an operator
// would. A run stopped after round 2, or killed mid-run, and started
// again resumes its optimizer state: its round-3 model and state files
// equal an uninterrupted run's byte for byte; resuming with another optimizer
// is refused; secure aggregation runs it too (the optimizer needs the sum).
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/process.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_e2e::Process;
using namespace std::chrono_literals;

std::string Bin(const std::string& name) {
  return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
}

class StrategySimulationE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/strategy_e2e_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void WriteConfig(const std::string& file, const std::string& optimizer,
                   bool secagg) {
    std::ofstream out(dir_ + "/" + file);
    out << "[run]\nid = \"strategy-e2e\"\nrounds = 3\nseed = 4\n"
        << "[rounds]\nmin_clients = 3\nclients_per_round = 3\n"
        << "min_updates = 3\ntimeout_s = 120\n"
        << "[model]\narchitecture = \"logreg\"\n"
        << "[training]\nlearning_rate = 0.1\nmomentum = 0.0\n"
        << "local_epochs = 1\nbatch_size = 64\n"
        << "[evaluation]\ndataset = \"fashion-mnist\"\n"
        << "[secagg]\nenabled = " << (secagg ? "true" : "false") << "\n"
        << "[simulation]\nclients = 3\npartition = \"iid\"\n"
        << "dataset = \"fashion-mnist\"\n"
        << "[strategy]\nname = \"" << optimizer << "\"\n";
  }

  // Runs fedlearn-sim on `state` for `rounds` rounds; returns its stderr.
  std::string RunSim(const std::string& config, const std::string& state,
                     int rounds, int expected_exit = 0, bool secure = false) {
    std::vector<std::string> argv = {
        Bin("fedlearn-sim"), "--config", dir_ + "/" + config,   "--state-dir",
        dir_ + "/" + state,  "--rounds", std::to_string(rounds)};
    if (secure) {
      argv.insert(argv.end(), {"--certs", dir_ + "/certs"});
    } else {
      argv.push_back("--insecure");
    }
    Process p(argv, dir_ + "/" + state + "-" + std::to_string(rounds));
    EXPECT_EQ(p.Wait(300s), expected_exit) << p.Stdout() << p.Stderr();
    return p.Stderr() + p.Stdout();
  }

  std::string Read(const std::string& path) {
    absl::StatusOr<std::string> bytes = ReadFileToString(dir_ + "/" + path);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() ? *bytes : "";
  }

  std::string dir_;
};

TEST_F(StrategySimulationE2eTest, ResumedFedAdamRunEqualsAnUninterruptedOne) {
  WriteConfig("adam.toml", "fedadam", /*secagg=*/false);
  RunSim("adam.toml", "whole", 3);
  // Stopped cleanly after round 2, then started again.
  RunSim("adam.toml", "resumed", 2);
  const std::string resumed = RunSim("adam.toml", "resumed", 3);
  // The second start ran only round 3 (it resumed after round 2).
  EXPECT_THAT(resumed, HasSubstr("round   3/3"));
  EXPECT_THAT(resumed, Not(HasSubstr("round   1/3")));
  // Killed (SIGKILL) once round 1 is reported, wherever round 2 or 3 then
  // is, and started again: it redoes at most the round in flight.
  {
    Process p({Bin("fedlearn-sim"), "--config", dir_ + "/adam.toml",
               "--state-dir", dir_ + "/killed", "--insecure"},
              dir_ + "/killed-first");
    ASSERT_TRUE(p.WaitForOutput("round   1/3", 120s).has_value())
        << p.Stdout() << p.Stderr();
    p.Signal(SIGKILL);
    p.Wait(30s);
  }
  RunSim("adam.toml", "killed", 3);
  for (const std::string state : {"resumed", "killed"}) {
    for (const char* file :
         {"models/round-000003.fmodel", "strategy/round-000003.fstate"}) {
      const std::string a = Read(std::string("whole/") + file);
      EXPECT_FALSE(a.empty()) << file;
      EXPECT_TRUE(a == Read(state + "/" + file)) << state << " " << file;
    }
  }
  EXPECT_THAT(Read("resumed/checkpoint.json"),
              HasSubstr("\"file\": \"strategy/round-000003.fstate\""));

  WriteConfig("yogi.toml", "fedyogi", /*secagg=*/false);
  EXPECT_THAT(RunSim("yogi.toml", "resumed", 4, /*expected_exit=*/1),
              HasSubstr("was trained with [strategy] name = \"fedadam\""));
}

TEST_F(StrategySimulationE2eTest, FedAdamRunsWithSecureAggregation) {
  WriteConfig("adam.toml", "fedadam", /*secagg=*/true);
  const std::string out = RunSim("adam.toml", "state", 3, 0, /*secure=*/true);
  EXPECT_THAT(out, HasSubstr("secure aggregation"));
  EXPECT_TRUE(
      std::filesystem::exists(dir_ + "/state/strategy/round-000003.fstate"));
}

}  // namespace
}  // namespace fedlearn
