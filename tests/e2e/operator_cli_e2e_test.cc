// What a site operator sees from the real binaries (started as processes,
// 127.0.0.1 only): --version on each, a clean exit on SIGTERM/SIGINT, and a
// clear refusal, before anything runs, of an unknown log level, a malformed
// coordinator address and a key that belongs to another certificate; the
// server certificate's names as fedlearn-certs prints them; no CA key left
// in the simulation's state directory.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>

#include "common/util/version.h"
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

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

class OperatorCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/operator_cli_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() +
           "_" + std::to_string(getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CliResult Run(std::vector<std::string> argv) {
    Process p(std::move(argv), dir_ + "/run" + std::to_string(runs_++));
    CliResult r;
    std::optional<int> code = p.Wait(60s);
    r.exit_code = code.value_or(-1000);
    r.out = p.Stdout();
    r.err = p.Stderr();
    return r;
  }

  void ProvisionCerts() {
    CliResult r = Run({Bin("fedlearn-certs"), "init", "--out", dir_ + "/certs",
                       "--clients", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Secure aggregation needs three clients; none will come.
  std::vector<std::string> CoordinatorArgs() {
    return {Bin("fedlearn-coordinator"),
            "--certs",
            dir_ + "/certs",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            dir_ + "/state",
            "--eval-dataset",
            "none",
            "--min-clients",
            "3",
            "--clients-per-round",
            "3",
            "--min-updates",
            "3"};
  }

  std::string dir_;
  int runs_ = 0;
};

TEST_F(OperatorCliTest, EveryBinaryPrintsItsVersionAndExitsZero) {
  for (const std::string name :
       {"coordinator", "client", "sim", "certs", "dp", "audit"}) {
    CliResult r = Run({Bin("fedlearn-" + name), "--version"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out, VersionLine(name) + "\n");
    EXPECT_TRUE(std::regex_match(
        r.out, std::regex("fedlearn-" + name + R"( \d+\.\d+\.\d+ \(\S+\)\n)")))
        << r.out;
  }
}

// The simulation's CA key lives only in memory: its state directory never
// holds one, and one an older version left there is removed.
TEST_F(OperatorCliTest, SimulationLeavesNoCaKeyInItsStateDirectory) {
  const std::string state = dir_ + "/state";
  std::filesystem::create_directories(state + "/certs");
  std::ofstream(state + "/certs/ca.key") << "stale key of an older version";
  // hospital.toml names its CSV relative to the source tree.
  CliResult r = Run({"/bin/sh", "-c",
                     "cd '" + std::string(FEDLEARN_SOURCE_DIR) + "' && exec '" +
                         Bin("fedlearn-sim") +
                         "' --config examples/hospital/hospital.toml "
                         "--rounds 1 --state-dir '" +
                         state + "'"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(std::filesystem::exists(state + "/certs/ca.pem"));
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(state)) {
    EXPECT_NE(entry.path().filename(), "ca.key") << entry.path();
  }
}

TEST_F(OperatorCliTest, CoordinatorStoppedBySigtermOrSigintExitsZero) {
  ProvisionCerts();
  for (int signo : {SIGTERM, SIGINT}) {
    Process p(CoordinatorArgs(), dir_ + "/coordinator" + std::to_string(signo));
    ASSERT_TRUE(p.WaitForOutput("listening on port ", 60s).has_value())
        << p.Stderr();
    p.Signal(signo);
    EXPECT_EQ(p.Wait(30s), 0) << "signal " << signo << ": " << p.Stderr();
    EXPECT_THAT(p.Stdout(), HasSubstr("stopped by signal"));
  }
}

TEST_F(OperatorCliTest, CoordinatorWithAKeyOfAnotherCertificateExitsNonZero) {
  ProvisionCerts();
  std::filesystem::copy_file(dir_ + "/certs/client-001.key",
                             dir_ + "/certs/server.key",
                             std::filesystem::copy_options::overwrite_existing);
  CliResult r = Run(CoordinatorArgs());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("certificate " + dir_ +
                               "/certs/server.pem and "
                               "key " +
                               dir_ +
                               "/certs/server.key do not "
                               "match (the key belongs to another "
                               "certificate)"));
}

TEST_F(OperatorCliTest, UnknownLogLevelIsRefusedByFlagAndByConfigFile) {
  CliResult flag = Run({Bin("fedlearn-coordinator"), "--log-level", "verbose"});
  EXPECT_NE(flag.exit_code, 0);
  EXPECT_THAT(flag.err, HasSubstr("--log-level: verbose not in"));
  CliResult client = Run({Bin("fedlearn-client"), "--log-level", "loud"});
  EXPECT_NE(client.exit_code, 0);
  EXPECT_THAT(client.err, HasSubstr("--log-level: loud not in"));

  ProvisionCerts();
  std::ofstream(dir_ + "/c.toml") << "[run]\nlog_level = \"verbose\"\n";
  std::vector<std::string> args = CoordinatorArgs();
  args.insert(args.end(), {"--config", dir_ + "/c.toml"});
  CliResult file = Run(args);
  EXPECT_EQ(file.exit_code, 1);
  EXPECT_THAT(file.err,
              HasSubstr("[run] log_level = \"verbose\" is not a log level"));
  // The flag overrides the file: this coordinator starts.
  args.insert(args.end(), {"--log-level", "warn"});
  Process p(args, dir_ + "/overridden");
  EXPECT_TRUE(p.WaitForOutput("listening on port ", 60s).has_value())
      << p.Stderr();
  p.Signal(SIGTERM);
  EXPECT_EQ(p.Wait(30s), 0) << p.Stderr();
}

TEST_F(OperatorCliTest, ClientRefusesAMalformedCoordinatorAddressAtOnce) {
  CliResult r = Run({Bin("fedlearn-client"), "--coordinator",
                     "coordinator.example.org:", "--insecure"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("empty port"));
  EXPECT_THAT(r.err, HasSubstr("port 7443"));
  CliResult help = Run({Bin("fedlearn-client"), "--help"});
  EXPECT_THAT(help.out, HasSubstr("the port defaults to 7443"));
}

TEST_F(OperatorCliTest, CertsInitKeepsLocalhostAndPrintsTheServerNames) {
  CliResult r = Run({Bin("fedlearn-certs"), "init", "--out", dir_ + "/a",
                     "--server-dns", "coordinator.example.org"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("DNS:coordinator.example.org, DNS:localhost, "
                               "IP:127.0.0.1\n"));
  CliResult verify =
      Run({Bin("fedlearn-certs"), "verify", "--ca", dir_ + "/a/ca.pem",
           "--cert", dir_ + "/a/server.pem"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_THAT(verify.out,
              HasSubstr("SANs: DNS:coordinator.example.org, DNS:localhost, "
                        "IP:127.0.0.1 OK"));

  CliResult strict = Run({Bin("fedlearn-certs"), "init", "--out", dir_ + "/b",
                          "--no-localhost", "--server-dns",
                          "coordinator.example.org", "--server-ip", "::1"});
  ASSERT_EQ(strict.exit_code, 0) << strict.err;
  EXPECT_THAT(strict.out, HasSubstr("DNS:coordinator.example.org, IP:::1\n"));
  EXPECT_THAT(strict.out, Not(HasSubstr("localhost")));
}

TEST_F(OperatorCliTest, CertsInitWarnsWhenAKeptServerCertificateLacksAName) {
  ASSERT_EQ(Run({Bin("fedlearn-certs"), "init", "--out", dir_ + "/a",
                 "--server-dns", "old.example.org"})
                .exit_code,
            0);
  CliResult r = Run({Bin("fedlearn-certs"), "init", "--out", dir_ + "/a",
                     "--server-dns", "new.example.org"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("DNS:old.example.org, DNS:localhost"));
  EXPECT_THAT(r.err, HasSubstr("WARNING"));
  EXPECT_THAT(r.err, HasSubstr("does NOT carry DNS:new.example.org"));
}

}  // namespace
}  // namespace fedlearn
