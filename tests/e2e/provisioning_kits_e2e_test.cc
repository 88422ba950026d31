// `fedlearn-certs kits`, add-site, add-operator, rotate and revoke as an
// operator runs them (the real binary, as a process): what each kit holds
// and with which permissions, that no kit ever holds ca.key, that a re-run
// keeps every key, and that rotation and revocation reach the signed CRL
// (read back with RevokedSerials, the coordinator's own reader); the
// coordinator starts from its kit as written.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/crypto/certificate_chain.h"
#include "common/tls/cert_authority.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/process.h"

namespace fedlearn {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_e2e::Process;
using namespace std::chrono_literals;

constexpr char kProject[] = R"([project]
name = "test-consortium"
[coordinator]
dns_names = ["localhost"]
ip_addresses = ["127.0.0.1"]
port = 7443
[sites]
ids = ["hospital-a", "hospital-b"]
[operators]
names = ["alice"]
)";

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

mode_t PermissionBits(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

class ProvisioningKitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/kits_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() +
           "_" + std::to_string(getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    project_ = dir_ + "/project.toml";
    std::ofstream(project_) << kProject;
  }
  void TearDown() override { fs::remove_all(dir_); }

  CliResult Certs(std::vector<std::string> args) {
    args.insert(args.begin(),
                std::string(FEDLEARN_BINARY_DIR) + "/bin/fedlearn-certs");
    Process p(std::move(args), dir_ + "/run" + std::to_string(runs_++));
    CliResult r;
    r.exit_code = p.Wait(60s).value_or(-1000);
    r.out = p.Stdout();
    r.err = p.Stderr();
    return r;
  }

  void MakeKits() {
    CliResult r = Certs({"kits", "--project", project_, "--out", Fed()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  std::string Fed() const { return dir_ + "/fed"; }
  std::string Ca() const { return Fed() + "/ca"; }
  std::string Kit(const std::string& name) const {
    return Fed() + "/kits/" + name;
  }

  std::set<std::string> Revoked(const std::string& crl_path) {
    absl::StatusOr<std::set<std::string>> serials =
        RevokedSerials(Slurp(crl_path), Slurp(Ca() + "/ca.pem"));
    EXPECT_TRUE(serials.ok()) << crl_path << ": " << serials.status();
    return serials.value_or(std::set<std::string>{});
  }

  std::string Serial(const std::string& pem_path) {
    absl::StatusOr<std::string> serial = SerialOfCertificate(Slurp(pem_path));
    EXPECT_TRUE(serial.ok()) << pem_path;
    return serial.value_or("");
  }

  // Path -> contents of every regular file under Fed().
  std::map<std::string, std::string> Snapshot() {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(Fed())) {
      if (e.is_regular_file()) files[e.path().string()] = Slurp(e.path());
    }
    return files;
  }

  std::string dir_, project_;
  int runs_ = 0;
};

TEST_F(ProvisioningKitsTest,
       EveryKitHoldsItsOwnIdentityWithPrivatePermissions) {
  MakeKits();
  const std::string ca = Slurp(Ca() + "/ca.pem");
  EXPECT_EQ(PermissionBits(Ca()), 0700u);
  EXPECT_EQ(PermissionBits(Ca() + "/ca.key"), 0600u);
  for (const char* file : {"ca.pem", "crl.pem", "issued.json"}) {
    EXPECT_TRUE(fs::exists(Ca() + "/" + file)) << file;
  }
  struct Party {
    std::string kit, name;
    CertificateRole role;
  };
  for (const Party& p : std::vector<Party>{
           {"coordinator", "server", CertificateRole::kCoordinator},
           {"hospital-a", "hospital-a", CertificateRole::kSite},
           {"hospital-b", "hospital-b", CertificateRole::kSite},
           {"operator-alice", "alice", CertificateRole::kOperator}}) {
    const std::string dir = Kit(p.kit);
    EXPECT_EQ(PermissionBits(dir), 0700u) << dir;
    EXPECT_EQ(PermissionBits(dir + "/" + p.name + ".key"), 0600u) << dir;
    EXPECT_EQ(Slurp(dir + "/ca.pem"), ca) << dir;
    EXPECT_TRUE(fs::exists(dir + "/README.md")) << dir;
    const std::string cert = Slurp(dir + "/" + p.name + ".pem");
    EXPECT_TRUE(VerifyCertificateChain(ca, cert).ok()) << dir;
    EXPECT_EQ(*RoleOfCertificate(cert), p.role) << dir;
  }
  ChainRequirements as_site;
  as_site.purpose = CertificatePurpose::kTlsClient;
  as_site.common_name = "hospital-a";
  EXPECT_TRUE(VerifyCertificateChain(
                  ca, Slurp(Kit("hospital-a") + "/hospital-a.pem"), as_site)
                  .ok());
  const std::string client = Slurp(Kit("hospital-a") + "/client.toml");
  EXPECT_THAT(client, HasSubstr("address = \"localhost:7443\""));
  EXPECT_THAT(client, HasSubstr("cert = \"hospital-a.pem\""));
  EXPECT_THAT(Slurp(Kit("hospital-a") + "/README.md"),
              HasSubstr("fedlearn-client --config client.toml"));
  const std::string coordinator =
      Slurp(Kit("coordinator") + "/coordinator.toml");
  EXPECT_THAT(coordinator,
              HasSubstr("enrolled_clients = [ 'hospital-a', 'hospital-b' ]"));
  EXPECT_THAT(coordinator, HasSubstr("crl_file = 'crl.pem'"));
  EXPECT_THAT(coordinator, HasSubstr("key = 'server.key'"));
  // Two sites, but secure aggregation (on by default) needs three.
  EXPECT_THAT(coordinator, HasSubstr("min_clients = 3"));
  EXPECT_TRUE(Revoked(Kit("coordinator") + "/crl.pem").empty());
}

TEST_F(ProvisioningKitsTest, NoKitHoldsTheCaKey) {
  MakeKits();
  const std::string ca_key = Slurp(Ca() + "/ca.key");
  ASSERT_THAT(ca_key, HasSubstr("PRIVATE KEY"));
  for (const auto& [path, contents] : Snapshot()) {
    if (path == Ca() + "/ca.key") continue;
    EXPECT_NE(fs::path(path).filename(), "ca.key") << path;
    EXPECT_THAT(contents, Not(HasSubstr(ca_key))) << path;
  }
}

TEST_F(ProvisioningKitsTest, ARerunKeepsEveryKeyAndCertificate) {
  MakeKits();
  const std::map<std::string, std::string> before = Snapshot();
  CliResult r = Certs({"kits", "--project", project_, "--out", Fed()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("kept  " + Ca() + "/ca.pem and ca.key"));
  EXPECT_THAT(r.out, HasSubstr("kept  " + Kit("hospital-a") +
                               "/hospital-a.pem and hospital-a.key"));
  const std::map<std::string, std::string> after = Snapshot();
  for (const auto& [path, contents] : before) {
    // Only the CRL is re-signed (a fresh nextUpdate); same serials.
    if (fs::path(path).filename() == "crl.pem") continue;
    EXPECT_EQ(after.at(path), contents) << path;
  }
  EXPECT_EQ(after.size(), before.size());
}

TEST_F(ProvisioningKitsTest, RotateReplacesTheKeyAndRevokesTheOldSerial) {
  MakeKits();
  const std::string pem = Kit("hospital-a") + "/hospital-a.pem";
  const std::string old_serial = Serial(pem);
  const std::string old_key = Slurp(Kit("hospital-a") + "/hospital-a.key");
  CliResult r = Certs({"rotate", "--ca-dir", Ca(), "--site", "hospital-a"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string new_serial = Serial(pem);
  EXPECT_NE(new_serial, old_serial);
  EXPECT_NE(Slurp(Kit("hospital-a") + "/hospital-a.key"), old_key);
  EXPECT_EQ(PermissionBits(Kit("hospital-a") + "/hospital-a.key"), 0600u);
  for (const std::string crl :
       {Ca() + "/crl.pem", Kit("coordinator") + "/crl.pem"}) {
    EXPECT_EQ(Revoked(crl), std::set<std::string>{old_serial}) << crl;
  }
  EXPECT_THAT(Slurp(Ca() + "/issued.json"), HasSubstr(new_serial));
}

TEST_F(ProvisioningKitsTest, RevokeListsEveryCertificateOfTheSiteOnce) {
  MakeKits();
  const std::string site_b = Serial(Kit("hospital-b") + "/hospital-b.pem");
  const std::string alice = Serial(Kit("operator-alice") + "/alice.pem");
  CliResult r = Certs({"revoke", "--ca-dir", Ca(), "--site", "hospital-b",
                       "--reason", "laptop lost"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("copy " + Ca() + "/crl.pem"));
  EXPECT_THAT(Slurp(Ca() + "/issued.json"), HasSubstr("laptop lost"));
  EXPECT_EQ(Revoked(Kit("coordinator") + "/crl.pem"),
            std::set<std::string>{site_b});
  // Nothing left to revoke: a second revoke says so.
  EXPECT_NE(
      Certs({"revoke", "--ca-dir", Ca(), "--site", "hospital-b"}).exit_code, 0);
  ASSERT_EQ(
      Certs({"revoke", "--ca-dir", Ca(), "--operator", "alice"}).exit_code, 0);
  EXPECT_EQ(Revoked(Ca() + "/crl.pem"), (std::set<std::string>{site_b, alice}));
  // The CRL survives a re-run of kits, which warns about the revoked kits.
  CliResult rerun = Certs({"kits", "--project", project_, "--out", Fed()});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_THAT(rerun.out,
              HasSubstr("hospital-b.pem (serial " + site_b + ") is revoked"));
  EXPECT_EQ(Revoked(Kit("coordinator") + "/crl.pem"),
            (std::set<std::string>{site_b, alice}));
}

TEST_F(ProvisioningKitsTest, AddSiteWritesItsKitAndEnrolsIt) {
  MakeKits();
  CliResult r = Certs({"add-site", "--ca-dir", Ca(), "--project", project_,
                       "--site", "hospital-c"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("enrolled_clients = [\"hospital-a\", "
                               "\"hospital-b\", \"hospital-c\"]"));
  EXPECT_THAT(Slurp(Kit("coordinator") + "/coordinator.toml"),
              HasSubstr("'hospital-a', 'hospital-b', 'hospital-c' ]"));
  EXPECT_EQ(PermissionBits(Kit("hospital-c") + "/hospital-c.key"), 0600u);
  EXPECT_EQ(*RoleOfCertificate(Slurp(Kit("hospital-c") + "/hospital-c.pem")),
            CertificateRole::kSite);
  EXPECT_THAT(Slurp(Ca() + "/issued.json"),
              HasSubstr(Serial(Kit("hospital-c") + "/hospital-c.pem")));
}

// The kit's coordinator.toml is complete: the coordinator starts from
// inside the kit with it (on a port the OS picks) and enrols the sites.
TEST_F(ProvisioningKitsTest, TheCoordinatorStartsFromItsKit) {
  std::ofstream(project_) << "[sites]\nids = [\"s1\", \"s2\", \"s3\"]\n";
  MakeKits();
  Process coordinator(
      {"/bin/sh", "-c",
       "cd '" + Kit("coordinator") + "' && exec '" +
           std::string(FEDLEARN_BINARY_DIR) +
           "/bin/fedlearn-coordinator' --config coordinator.toml --listen "
           "127.0.0.1:0 --eval-dataset none"},
      dir_ + "/coordinator");
  ASSERT_TRUE(coordinator.WaitForOutput("listening on port ", 60s).has_value())
      << coordinator.Stderr();
  coordinator.Signal(SIGTERM);
  EXPECT_EQ(coordinator.Wait(30s), 0) << coordinator.Stderr();
  EXPECT_THAT(coordinator.Stderr(), HasSubstr("admits 3 enrolled client(s)"));
  EXPECT_TRUE(fs::exists(Kit("coordinator") + "/state"));
}

TEST_F(ProvisioningKitsTest, AnInvalidProjectWritesNothing) {
  for (const std::string project :
       {"[sites]\nids = [\"coordinator\"]\n",
        "[sites]\nids = [\"a\"]\n[operators]\nnames = [\"a\"]\n",
        "[sites]\nid = [\"a\"]\n",
        "[coordinator]\ndns_names = []\nip_addresses = []\n"}) {
    std::ofstream(project_) << project;
    CliResult r = Certs({"kits", "--project", project_, "--out", Fed()});
    EXPECT_NE(r.exit_code, 0) << project;
    EXPECT_FALSE(fs::exists(Fed())) << project;
  }
}

}  // namespace
}  // namespace fedlearn
