// Runs the real fedlearn-dp binary and checks its output and error paths.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/dp/distributed_dp_accounting.h"
#include "common/dp/rdp_accountant.h"
#include "gtest/gtest.h"
#include "tests/e2e/process.h"

namespace fedlearn {
namespace {

using testing_e2e::Process;
using namespace std::chrono_literals;

struct CliResult {
  int exit_code;
  std::string out;
  std::string err;
};

CliResult RunDp(const std::vector<std::string>& args) {
  static int counter = 0;
  std::vector<std::string> argv = {std::string(FEDLEARN_BINARY_DIR) +
                                   "/bin/fedlearn-dp"};
  argv.insert(argv.end(), args.begin(), args.end());
  // ctest runs each test as its own process in parallel: the log prefix
  // must be unique across processes, not just within one.
  const std::string log = ::testing::TempDir() + "/fedlearn_dp_" +
                          std::to_string(::getpid()) + "_" +
                          std::to_string(counter++);
  Process p(argv, log);
  EXPECT_TRUE(p.started());
  std::optional<int> code = p.Wait(120s);
  EXPECT_TRUE(code.has_value()) << "fedlearn-dp timed out";
  CliResult result{code.value_or(-1), p.Stdout(), p.Stderr()};
  std::filesystem::remove(log + ".out");
  std::filesystem::remove(log + ".err");
  return result;
}

// "key: value" lines.
std::map<std::string, std::string> Fields(const std::string& out) {
  std::map<std::string, std::string> fields;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(": ");
    if (colon != std::string::npos) {
      fields[line.substr(0, colon)] = line.substr(colon + 2);
    }
  }
  return fields;
}

double Num(const std::map<std::string, std::string>& f,
           const std::string& key) {
  auto it = f.find(key);
  EXPECT_NE(it, f.end()) << "missing " << key;
  return it == f.end() ? std::nan("") : std::stod(it->second);
}

TEST(DpPlanCliTest, CalibratePrintsNoiseEpsilonAndStddevOnTheAverage) {
  const CliResult r = RunDp({"calibrate", "--epsilon", "3", "--delta", "1e-6",
                             "--rounds", "1000", "--clients-per-round", "100",
                             "--population", "10000", "--clip-norm", "0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto f = Fields(r.out);
  EXPECT_DOUBLE_EQ(Num(f, "sampling_rate"), 0.01);
  EXPECT_DOUBLE_EQ(Num(f, "expected_clients_per_round"), 100);
  EXPECT_EQ(Num(f, "rounds"), 1000);
  const double z = Num(f, "noise_multiplier");
  const double expected_z = *CalibrateNoiseMultiplier(3, 1e-6, 0.01, 1000);
  EXPECT_NEAR(z, expected_z, 1e-7 * expected_z);
  const double eps = Num(f, "epsilon");
  EXPECT_LE(eps, 3.0);
  EXPECT_GT(eps, 3.0 * (1 - 1e-4));
  EXPECT_NEAR(Num(f, "noise_stddev_on_sum"), z * 0.5, 1e-7 * z);
  EXPECT_NEAR(Num(f, "noise_stddev_on_average"), z * 0.5 / 100, 1e-9 * z);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(DpPlanCliTest, EpsilonReproducesOpacusPublishedValue) {
  // pytorch/opacus opacus/tests/accountants_test.py test_rdp_accountant:
  // z 1.5, q 0.04, 2250 steps, delta 1e-5 -> 7.32911117143.
  const CliResult r =
      RunDp({"epsilon", "--noise-multiplier", "1.5", "--delta", "1e-5",
             "--rounds", "2250", "--sampling-rate", "0.04"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto f = Fields(r.out);
  EXPECT_NEAR(Num(f, "epsilon"), 7.32911117143, 5e-7);
  EXPECT_EQ(Num(f, "optimal_order"), 3.9);
  EXPECT_EQ(Num(f, "noise_multiplier"), 1.5);
}

TEST(DpPlanCliTest, ClassicConversionReproducesTheMnistTutorial) {
  // tensorflow/privacy tutorials/README.md: z 1.1, batch 256 of 60000, 60
  // epochs of 234 steps, delta 1e-5 -> "epsilon is: 3.01" (classic).
  const CliResult r =
      RunDp({"epsilon", "--noise-multiplier", "1.1", "--delta", "1e-5",
             "--rounds", "14040", "--clients-per-round", "256", "--population",
             "60000", "--conversion", "classic"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NEAR(Num(Fields(r.out), "epsilon"), 3.01, 0.005);
}

TEST(DpPlanCliTest, TableListsEpsilonAtRoundMarks) {
  const CliResult r =
      RunDp({"epsilon", "--noise-multiplier", "1.0", "--delta", "1e-5",
             "--rounds", "150", "--sampling-rate", "0.01", "--table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::string line;
  std::vector<long> rounds;
  std::vector<double> eps;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.find("optimal_order") != std::string::npos &&
        line.find("rounds") != std::string::npos) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    std::istringstream row(line);
    long n;
    double e, order;
    ASSERT_TRUE(row >> n >> e >> order) << line;
    rounds.push_back(n);
    eps.push_back(e);
  }
  EXPECT_EQ(rounds, (std::vector<long>{1, 2, 5, 10, 20, 50, 100, 150}));
  for (size_t i = 1; i < eps.size(); ++i) EXPECT_GT(eps[i], eps[i - 1]);
  // The last row is the summary's epsilon.
  ASSERT_FALSE(eps.empty());
  EXPECT_NEAR(eps.back(), Num(Fields(r.out), "epsilon"), 1e-6 * eps.back());
  RdpAccountant acc;
  ASSERT_TRUE(acc.AddSteps(0.01, 1.0, 20).ok());
  EXPECT_NEAR(eps[4], acc.GetPrivacySpent(1e-5)->epsilon, 1e-6 * eps[4]);
}

TEST(DpPlanCliTest, BadInputFailsWithAMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string message;  // expected in stderr ("" = any)
  };
  const std::vector<std::string> base = {"--delta", "1e-5", "--rounds", "10"};
  auto with = [&](std::vector<std::string> head,
                  std::vector<std::string> tail = {}) {
    std::vector<std::string> v = std::move(head);
    v.insert(v.end(), base.begin(), base.end());
    v.insert(v.end(), tail.begin(), tail.end());
    return v;
  };
  const Case cases[] = {
      {{}, ""},  // no subcommand
      {{"bogus"}, ""},
      {with({"epsilon", "--noise-multiplier", "1"}), "--sampling-rate"},
      {with({"epsilon", "--noise-multiplier", "1"}, {"--sampling-rate", "1.5"}),
       "--sampling-rate must be in (0, 1]"},
      {with({"epsilon", "--noise-multiplier", "0"}, {"--sampling-rate", "0.1"}),
       "--noise-multiplier"},
      {with({"epsilon", "--noise-multiplier", "1"},
            {"--sampling-rate", "0.1", "--clients-per-round", "5",
             "--population", "50"}),
       "excludes"},
      {with({"epsilon", "--noise-multiplier", "1"},
            {"--clients-per-round", "5"}),
       "--clients-per-round needs --population"},
      {with({"epsilon", "--noise-multiplier", "1"},
            {"--clients-per-round", "500", "--population", "50"}),
       "--clients-per-round must be in [1, --population = 50]"},
      {with({"epsilon", "--noise-multiplier", "1"},
            {"--sampling-rate", "0.1", "--clip-norm", "1"}),
       "--clip-norm needs --population"},
      {with({"epsilon", "--noise-multiplier", "1"},
            {"--sampling-rate", "0.1", "--conversion", "mystery"}),
       "mystery"},
      {{"epsilon", "--noise-multiplier", "1", "--delta", "0", "--rounds", "10",
        "--sampling-rate", "0.1"},
       "--delta must be in (0, 1)"},
      {{"epsilon", "--noise-multiplier", "1", "--delta", "1e-5", "--rounds",
        "0", "--sampling-rate", "0.1"},
       "--rounds must be >= 1"},
      {{"epsilon", "--noise-multiplier", "1", "--delta", "1e-5",
        "--sampling-rate", "0.1"},
       "--rounds"},
      {with({"calibrate", "--epsilon", "-1"}, {"--sampling-rate", "0.1"}),
       "--epsilon must be finite and > 0"},
      {{"calibrate", "--epsilon", "0.001", "--delta", "1e-5", "--rounds",
        "100000", "--sampling-rate", "1"},
       "unreachable"},
  };
  for (const Case& c : cases) {
    const CliResult r = RunDp(c.args);
    std::string joined;
    for (const std::string& a : c.args) joined += a + " ";
    EXPECT_NE(r.exit_code, 0) << joined;
    EXPECT_FALSE(r.err.empty()) << joined;
    EXPECT_NE(r.err.find(c.message), std::string::npos)
        << joined << "\nstderr: " << r.err;
  }
}

// --mode distributed plans as the coordinator charges distributed rounds:
// more noise for the same target, and the epsilon it prints is that bound.
TEST(DpPlanCliTest, DistributedModeCalibratesWithTheDistributedBound) {
  const std::vector<std::string> common = {
      "--epsilon", "8",  "--delta",         "1e-5",
      "--rounds",  "30", "--sampling-rate", "0.1"};
  std::vector<std::string> central = {"calibrate"};
  central.insert(central.end(), common.begin(), common.end());
  std::vector<std::string> distributed = central;
  distributed.push_back("--mode");
  distributed.push_back("distributed");
  CliResult c = RunDp(central);
  CliResult d = RunDp(distributed);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  ASSERT_EQ(d.exit_code, 0) << d.err;
  const auto cf = Fields(c.out);
  const auto df = Fields(d.out);
  EXPECT_EQ(df.at("mode"), "distributed");
  const double zc = Num(cf, "noise_multiplier");
  const double zd = Num(df, "noise_multiplier");
  EXPECT_GT(zd, zc);
  absl::StatusOr<double> expected =
      CalibrateDistributedNoiseMultiplier(8, 1e-5, 0.1, 30);
  ASSERT_TRUE(expected.ok());
  EXPECT_NEAR(zd, *expected, 1e-7 * zd);
  EXPECT_LE(Num(df, "epsilon"), 8.0);
  EXPECT_GT(Num(df, "epsilon"), 7.99);
  // And `epsilon --mode distributed` at that z agrees.
  CliResult e =
      RunDp({"epsilon", "--noise-multiplier", df.at("noise_multiplier"),
             "--delta", "1e-5", "--rounds", "30", "--sampling-rate", "0.1",
             "--mode", "distributed"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NEAR(Num(Fields(e.out), "epsilon"), Num(df, "epsilon"), 1e-6);
  // The classic conversion is refused for distributed rounds.
  CliResult bad = RunDp({"epsilon", "--noise-multiplier", "1", "--delta",
                         "1e-5", "--rounds", "3", "--sampling-rate", "0.1",
                         "--mode", "distributed", "--conversion", "classic"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("improved"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace fedlearn
