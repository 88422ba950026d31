// End to end, scale-out simulation on one machine: `fedlearn-sim
// --coordinator-only` and three `fedlearn-sim --clients-only` pools (clients
// 0:2, 2:4, 4:6) on 127.0.0.1 against the single-process `fedlearn-sim`
// with the same configuration and seed, Fashion-MNIST, logistic regression.
//
// "The same result" means byte for byte: the single-process run is
// deterministic for a fixed seed (every round samples the whole population:
// min_clients = N), and the pools must reproduce its models and metrics
// exactly, with plaintext and with secure aggregation. Secure aggregation
// rounds each update stochastically; in a deployment with coins from the OS
// CSPRNG, in fedlearn-sim with coins seeded per client and round
// (ClientSession::Options::simulation_rounding_seed), which is what makes a
// secure simulation reproducible at all. The masks still come from fresh
// keys each run and cancel exactly.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/process.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using testing_e2e::Process;
using namespace std::chrono_literals;

constexpr int kClients = 6;
constexpr int kRounds = 3;

std::string Bin(const std::string& name) {
  return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

class ScaleOutSimulationE2eTest : public ::testing::Test {
 protected:
  // Runs the configuration in one process and split over a coordinator and
  // three pools, and expects the same models and metrics, byte for byte.
  void ExpectPoolsReproduceTheSingleProcessRun(bool secure);
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/scale_out_e2e_" + std::to_string(getpid()) +
           "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/tmp");
    // The pools' private certificate directories land here, so TearDown
    // removes them even if a pool is killed.
    const char* old = std::getenv("TMPDIR");
    if (old != nullptr) old_tmpdir_ = old;
    had_tmpdir_ = old != nullptr;
    setenv("TMPDIR", (dir_ + "/tmp").c_str(), 1);
  }
  void TearDown() override {
    if (had_tmpdir_) {
      setenv("TMPDIR", old_tmpdir_.c_str(), 1);
    } else {
      unsetenv("TMPDIR");
    }
    std::filesystem::remove_all(dir_);
  }

  void WriteConfig(bool secure) {
    std::ofstream out(dir_ + "/sim.toml");
    out << "[run]\nid = \"scale-out-e2e\"\nrounds = " << kRounds
        << "\nseed = 11\n"
        << "[rounds]\nmin_clients = " << kClients
        << "\nmin_updates = " << kClients << "\ntimeout_s = 60\n"
        << "[model]\narchitecture = \"logreg\"\n"
        << "[training]\nlearning_rate = 0.1\nmomentum = 0.0\n"
        << "local_epochs = 1\nbatch_size = 32\n"
        << "[evaluation]\ndataset = \"fashion-mnist\"\n"
        << "[secagg]\nenabled = " << (secure ? "true" : "false")
        << "\nphase_timeout_s = 20\n"
        << "[simulation]\nclients = " << kClients
        << "\npartition = \"dirichlet:0.5\"\nworkers = 1\n"
        << "dataset = \"fashion-mnist\"\n";
  }

  std::vector<std::string> Sim(std::vector<std::string> extra) {
    std::vector<std::string> argv = {Bin("fedlearn-sim"), "--config",
                                     dir_ + "/sim.toml", "--seed", "5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // The single-process run into dir_/single; its wall time.
  double RunSingleProcess() {
    const auto start = std::chrono::steady_clock::now();
    Process sim(Sim({"--state-dir", dir_ + "/single"}), dir_ + "/single");
    EXPECT_EQ(sim.Wait(120s), 0) << sim.Stdout() << sim.Stderr();
    return SecondsSince(start);
  }

  // One coordinator and three pools into dir_/scaled; the wall time from
  // the coordinator's start to the last pool's exit.
  double RunScaledOut() {
    const std::string ca = dir_ + "/ca";
    Process certs(
        {Bin("fedlearn-certs"), "init", "--out", ca, "--clients", "0"},
        dir_ + "/certs");
    EXPECT_EQ(certs.Wait(60s), 0) << certs.Stderr();
    const auto start = std::chrono::steady_clock::now();
    Process coordinator(Sim({"--coordinator-only", "--listen", "127.0.0.1:0",
                             "--state-dir", dir_ + "/scaled", "--certs", ca}),
                        dir_ + "/coordinator");
    std::optional<std::string> line =
        coordinator.WaitForOutput("listening on port ", 60s);
    EXPECT_TRUE(line.has_value()) << coordinator.Stderr();
    if (!line.has_value()) return 0;
    const std::string port =
        std::to_string(std::stoi(line->substr(std::string("listening on "
                                                          "port ")
                                                  .size())));
    std::vector<std::unique_ptr<Process>> pools;
    for (const char* range : {"0:2", "2:4", "4:6"}) {
      pools.push_back(std::make_unique<Process>(
          Sim({"--clients-only", "--coordinator", "127.0.0.1:" + port,
               "--client-range", range, "--certs", ca}),
          dir_ + "/pool_" + std::string(range).substr(0, 1)));
    }
    for (auto& pool : pools) {
      EXPECT_EQ(pool->Wait(120s), 0) << pool->Stdout() << pool->Stderr();
      EXPECT_THAT(pool->Stdout(),
                  HasSubstr("done: 2 clients finished the run"));
    }
    const double seconds = SecondsSince(start);
    EXPECT_EQ(coordinator.Wait(60s), 0)
        << coordinator.Stdout() << coordinator.Stderr();
    EXPECT_THAT(coordinator.Stdout(), HasSubstr("done: 3 rounds"));
    // No pool left its private certificate directory behind.
    EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/tmp"));
    // The CA directory is as `fedlearn-certs init` wrote it.
    EXPECT_FALSE(std::filesystem::exists(ca + "/client-001.pem"));
    return seconds;
  }

  std::vector<nlohmann::json> Metrics(const std::string& state) {
    std::vector<nlohmann::json> lines;
    std::ifstream in(dir_ + "/" + state + "/metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }

  std::string FinalModel(const std::string& state) {
    absl::StatusOr<std::string> bytes =
        ReadFileToString(dir_ + "/" + state + "/models/round-000003.fmodel");
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() ? *bytes : "";
  }

  std::string dir_;
  std::string old_tmpdir_;
  bool had_tmpdir_ = false;
};

// The float32 payload of a model file ("FLMODEL1" | u32 LE length | header).
std::vector<float> Weights(const std::string& file) {
  if (file.size() < 12) return {};
  const uint32_t header =
      static_cast<uint8_t>(file[8]) | static_cast<uint8_t>(file[9]) << 8 |
      static_cast<uint8_t>(file[10]) << 16 |
      static_cast<uint32_t>(static_cast<uint8_t>(file[11])) << 24;
  std::vector<float> out((file.size() - 12 - header) / sizeof(float));
  std::memcpy(out.data(), file.data() + 12 + header, out.size() * 4);
  return out;
}

void ScaleOutSimulationE2eTest::ExpectPoolsReproduceTheSingleProcessRun(
    bool secure) {
  WriteConfig(secure);
  const double single = RunSingleProcess();
  const double scaled = RunScaledOut();
  std::printf("single process %.1f s, coordinator + 3 pools %.1f s\n", single,
              scaled);
  const std::vector<nlohmann::json> a = Metrics("single");
  const std::vector<nlohmann::json> b = Metrics("scaled");
  ASSERT_EQ(a.size(), static_cast<size_t>(kRounds));
  ASSERT_EQ(b.size(), a.size());
  for (size_t r = 0; r < a.size(); ++r) {
    EXPECT_EQ(b[r]["secure_aggregation"].get<bool>(), secure);
    for (const char* key :
         {"participants", "selected", "examples", "test_accuracy", "test_loss",
          "train_loss", "secure_aggregation", "quantization_error"}) {
      // Absent in one run means absent in the other (plaintext rounds have
      // no quantization error); a const json must not be indexed by a key
      // it lacks.
      ASSERT_EQ(a[r].contains(key), b[r].contains(key))
          << "round " << r + 1 << " " << key;
      if (a[r].contains(key)) {
        EXPECT_EQ(a[r][key], b[r][key]) << "round " << r + 1 << " " << key;
      }
    }
    EXPECT_EQ(a[r]["participants"], kClients);
  }
  const std::string model = FinalModel("single");
  ASSERT_EQ(Weights(model).size(), 7850u);
  EXPECT_TRUE(model == FinalModel("scaled")) << "the final models differ";
}

TEST_F(ScaleOutSimulationE2eTest,
       PlaintextPoolsReproduceTheSingleProcessRunByteForByte) {
  ExpectPoolsReproduceTheSingleProcessRun(/*secure=*/false);
}

TEST_F(ScaleOutSimulationE2eTest,
       SecurePoolsReproduceTheSingleProcessRunByteForByte) {
  ExpectPoolsReproduceTheSingleProcessRun(/*secure=*/true);
}

// The binary refuses before it loads data or dials anyone (every other
// combination: tests/apps/sim_flags_test.cc).
TEST_F(ScaleOutSimulationE2eTest,
       PoolRefusesARangeOutsideTheRunOrACaWithoutKey) {
  WriteConfig(/*secure=*/false);
  std::filesystem::create_directories(dir_ + "/half-ca");
  { std::ofstream(dir_ + "/half-ca/ca.pem") << "not a CA\n"; }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"4:7", "not within the run's 6 clients"},
      {"--coordinator-only", "exclude each other"},
      {"0:2", "ca.key must be readable"},
  };
  int i = 0;
  for (const auto& [range, message] : cases) {
    std::vector<std::string> flags = {"--clients-only", "--coordinator",
                                      "127.0.0.1:1", "--certs",
                                      dir_ + "/half-ca"};
    if (range.rfind("--", 0) == 0) {
      flags.insert(flags.end(), {range, "--client-range", "0:2"});
    } else {
      flags.insert(flags.end(), {"--client-range", range});
    }
    Process sim(Sim(flags), dir_ + "/refused_" + std::to_string(i++));
    EXPECT_EQ(sim.Wait(60s), 1) << message;
    EXPECT_THAT(sim.Stderr(), HasSubstr(message));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/tmp"));
}

}  // namespace
}  // namespace fedlearn
