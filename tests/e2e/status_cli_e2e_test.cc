// End to end: `fedlearn-status` (the real binary) against a real
// fedlearn-coordinator started from the kits `fedlearn-certs kits` wrote, on
// 127.0.0.1 with an OS-chosen port and mutual TLS. The operator's kit reads
// the run's status (--json and the human lines) while it waits for clients
// and once three registered sites opened round 1; a site's kit is refused
// with exit status 1 and the hint to issue an operator certificate; a
// coordinator that is gone is reported as unreachable; bad flags exit 2.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/transport/grpc_credentials.h"
#include "common/transport/tls_config.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/fedlearn/v1/fedlearn.grpc.pb.h"
#include "tests/e2e/process.h"

namespace fedlearn {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing_e2e::Process;
using namespace std::chrono_literals;

constexpr char kProject[] = R"([project]
name = "status-consortium"
[coordinator]
dns_names = ["localhost"]
ip_addresses = ["127.0.0.1"]
[sites]
ids = ["site-a", "site-b", "site-c"]
[operators]
names = ["alice"]
)";

std::string Bin(const std::string& name) {
  return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
}

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

class StatusCliE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/e2e_status_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() +
           "_" + std::to_string(getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ + "/project.toml") << kProject;
    CliResult kits = Run(
        Bin("fedlearn-certs"),
        {"kits", "--project", dir_ + "/project.toml", "--out", dir_ + "/fed"});
    ASSERT_EQ(kits.exit_code, 0) << kits.out << kits.err;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Kit(const std::string& name) const {
    return dir_ + "/fed/kits/" + name;
  }

  CliResult Run(const std::string& binary, std::vector<std::string> args) {
    args.insert(args.begin(), binary);
    Process p(args, dir_ + "/cli" + std::to_string(++calls_));
    CliResult r;
    r.exit_code = p.Wait(30s).value_or(-100);
    r.out = p.Stdout();
    r.err = p.Stderr();
    return r;
  }

  CliResult Status(const std::string& kit, const std::string& id,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--coordinator", Target(), "--certs",
                                     Kit(kit),        "--id",   id};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(Bin("fedlearn-status"), args);
  }

  // The kit's coordinator, waiting for its three sites (min_clients 3).
  void StartCoordinator() {
    coordinator_ = std::make_unique<Process>(
        std::vector<std::string>{
            "/bin/sh", "-c",
            "cd '" + Kit("coordinator") + "' && exec '" +
                Bin("fedlearn-coordinator") +
                "' --config coordinator.toml --listen 127.0.0.1:0 "
                "--eval-dataset none"},
        dir_ + "/coordinator");
    std::optional<std::string> line =
        coordinator_->WaitForOutput("listening on port ", 60s);
    ASSERT_TRUE(line.has_value()) << coordinator_->Stderr();
    port_ = std::stoi(line->substr(std::string("listening on port ").size()));
  }
  std::string Target() const { return "127.0.0.1:" + std::to_string(port_); }

  // `site` (a kit) registers as a client daemon would, and stays live for
  // the coordinator's client_liveness (it never fetches its task).
  void RegisterSite(const std::string& site) {
    auto material = LoadTlsMaterial(TlsConfig::FromDirectory(Kit(site), site));
    ASSERT_TRUE(material.ok()) << material.status();
    auto stub = v1::Coordinator::NewStub(
        grpc::CreateChannel(Target(), MutualTlsChannelCredentials(*material)));
    v1::GetContractResponse contract;
    {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 10s);
      grpc::Status s =
          stub->GetContract(&context, v1::GetContractRequest(), &contract);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
    v1::RegisterRequest request;
    request.set_num_examples(100);
    request.set_contract_digest(contract.contract_digest());
    request.set_session_id("e2e-session-" + site);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::RegisterResponse response;
    grpc::Status s = stub->Register(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // fedlearn-status --json as the operator until `state` shows (or 20 s).
  nlohmann::json WaitForState(const std::string& state) {
    nlohmann::json status;
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < end) {
      CliResult r = Status("operator-alice", "alice", {"--json"});
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
      if (r.exit_code != 0) break;
      status = nlohmann::json::parse(r.out);
      if (status["state"] == state) break;
      std::this_thread::sleep_for(100ms);
    }
    return status;
  }

  std::string dir_;
  int calls_ = 0;
  int port_ = 0;
  std::unique_ptr<Process> coordinator_;
};

TEST_F(StatusCliE2eTest, AnOperatorReadsTheStatusAsJson) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  CliResult r = Status("operator-alice", "alice", {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const nlohmann::json status = nlohmann::json::parse(r.out);
  EXPECT_EQ(status["run_id"], "status-consortium");
  EXPECT_EQ(status["state"], "waiting_for_clients");
  EXPECT_EQ(status["round"], 1);
  EXPECT_EQ(status["attempt"], 0);
  EXPECT_EQ(status["rounds_completed"], 0);
  EXPECT_EQ(status["clients"]["registered"], 0);
  EXPECT_EQ(status["clients"]["live"], 0);
  EXPECT_TRUE(status["last_round"].is_null());
  EXPECT_THAT(status["coordinator_version"].get<std::string>(),
              HasSubstr("fedlearn-coordinator "));

  // Three sites register: the first round opens with all three selected.
  for (const char* site : {"site-a", "site-b", "site-c"}) {
    ASSERT_NO_FATAL_FAILURE(RegisterSite(site));
  }
  const nlohmann::json running = WaitForState("running");
  EXPECT_EQ(running["state"], "running") << running.dump();
  EXPECT_EQ(running["round"], 1);
  EXPECT_EQ(running["attempt"], 1);
  EXPECT_EQ(running["phase"], "Training");
  EXPECT_EQ(running["clients"]["registered"], 3);
  EXPECT_EQ(running["clients"]["live"], 3);
  EXPECT_EQ(running["clients"]["selected"], 3);
  // Counts only: no site is named anywhere in the answer.
  EXPECT_EQ(running.dump().find("site-"), std::string::npos);

  CliResult human = Status("operator-alice", "alice");
  ASSERT_EQ(human.exit_code, 0) << human.out << human.err;
  EXPECT_THAT(human.out, HasSubstr("status-consortium"));
  EXPECT_THAT(human.out, HasSubstr("running round 1 of " +
                                   running["rounds_configured"].dump() +
                                   ", attempt 1, phase Training"));
  EXPECT_THAT(human.out, HasSubstr("3 registered, 3 live, 3 selected"));
  EXPECT_THAT(human.out, HasSubstr("last round   none yet"));
}

TEST_F(StatusCliE2eTest, ASiteCertificateIsRefusedWithExitOne) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  CliResult r = Status("site-a", "site-a", {"--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("this certificate is not an operator "
                               "certificate: issue one with `fedlearn-certs "
                               "add-operator"));
  EXPECT_THAT(r.err, HasSubstr("certificate CN 'site-a' has role 'site'"));
  // The refusal is in the coordinator's audit trail.
  coordinator_->Signal(SIGTERM);
  EXPECT_EQ(coordinator_->Wait(30s), 0) << coordinator_->Stderr();
  std::ifstream audit(Kit("coordinator") + "/state/audit.jsonl");
  std::string line;
  bool refused = false;
  while (std::getline(audit, line)) {
    refused |= line.find("\"refused\"") != std::string::npos &&
               line.find("site-a") != std::string::npos;
  }
  EXPECT_TRUE(refused);
}

TEST_F(StatusCliE2eTest, AnUnreachableCoordinatorIsAnErrorAndBadFlagsUsage) {
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  coordinator_->Signal(SIGTERM);
  ASSERT_EQ(coordinator_->Wait(30s), 0) << coordinator_->Stderr();
  CliResult gone = Status("operator-alice", "alice", {"--timeout", "5"});
  EXPECT_EQ(gone.exit_code, 1) << gone.out << gone.err;
  EXPECT_THAT(gone.err, HasSubstr("cannot get the status of the coordinator "
                                  "at " +
                                  Target()));

  CliResult no_id = Run(Bin("fedlearn-status"),
                        {"--coordinator", Target(), "--certs", Kit("site-a")});
  EXPECT_EQ(no_id.exit_code, 2) << no_id.err;
  EXPECT_THAT(no_id.err, HasSubstr("--certs needs --id"));
  EXPECT_EQ(Run(Bin("fedlearn-status"), {"--certs", "x"}).exit_code, 2);
}

}  // namespace
}  // namespace fedlearn
