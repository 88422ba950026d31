// End to end, the run report: a short real run of `fedlearn-sim` (3 virtual
// clients, 2 rounds, plaintext loopback), then `fedlearn-report` on its
// state directory. The coordinator recorded its effective configuration
// (file + flags) in run-config.toml, which parses back through the
// coordinator's own config loader; the report has one chart point per round.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator_config.h"
#include "tests/e2e/process.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_e2e::Process;
using testing_util::ScopedTempDir;
using namespace std::chrono_literals;

std::string Bin(const std::string& name) {
  return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr char kConfig[] = R"([run]
id = "report-e2e"
rounds = 5
seed = 3
[rounds]
min_clients = 3
clients_per_round = 3
min_updates = 3
timeout_s = 60
[model]
architecture = "logreg"
[training]
learning_rate = 0.1
momentum = 0.0
batch_size = 64
[evaluation]
dataset = "fashion-mnist"
[secagg]
enabled = false
[simulation]
clients = 3
partition = "iid"
dataset = "fashion-mnist"
)";

TEST(RunReportE2eTest, ShortSimulationYieldsAReportAndAReloadableRunConfig) {
  ScopedTempDir dir;
  { std::ofstream(dir.File("sim.toml")) << kConfig; }
  const std::string state = dir.File("state");
  // --rounds overrides the file: run-config.toml must hold the flag's 2.
  Process sim({Bin("fedlearn-sim"), "--config", dir.File("sim.toml"),
               "--state-dir", state, "--insecure", "--rounds", "2"},
              dir.File("sim"));
  ASSERT_EQ(sim.Wait(300s), 0) << sim.Stdout() << sim.Stderr();

  absl::StatusOr<CoordinatorConfig> config =
      LoadCoordinatorConfig(state + "/run-config.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(ValidateCoordinatorConfig(*config).ok());
  EXPECT_EQ(config->engine.run_id, "report-e2e");
  EXPECT_EQ(config->engine.num_rounds, 2);
  EXPECT_EQ(config->state_dir, state);
  EXPECT_TRUE(config->tls.insecure);
  EXPECT_EQ(config->simulation.clients, 3);

  Process report({Bin("fedlearn-report"), state}, dir.File("report"));
  ASSERT_EQ(report.Wait(60s), 0) << report.Stderr();
  EXPECT_THAT(report.Stdout(), HasSubstr("2 rounds of run 'report-e2e'"));
  const std::string html = Slurp(state + "/report.html");
  EXPECT_THAT(html, HasSubstr("<td>2 of 2 configured</td>"));
  EXPECT_THAT(html, HasSubstr("<th>Secure aggregation</th><td>off</td>"));
  EXPECT_THAT(html, HasSubstr("id = &quot;report-e2e&quot;"));
  EXPECT_THAT(html, Not(HasSubstr("Privacy spent")));  // no DP, no epsilon
  // Test accuracy: one polyline, two points.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      html, m,
      std::regex("data-series=\"test accuracy\" points=\"([^\"]*)\"")));
  const std::string points = m[1];
  EXPECT_EQ(std::count(points.begin(), points.end(), ','), 2) << points;

  Process other({Bin("fedlearn-report"), state, "--out", dir.File("r.html")},
                dir.File("report2"));
  ASSERT_EQ(other.Wait(60s), 0) << other.Stderr();
  EXPECT_TRUE(std::filesystem::exists(dir.File("r.html")));
}

TEST(RunReportE2eTest, MissingStateDirectoryIsAnErrorNamingIt) {
  ScopedTempDir dir;
  Process report({Bin("fedlearn-report"), dir.File("absent")},
                 dir.File("report"));
  EXPECT_EQ(report.Wait(60s), 2);
  EXPECT_THAT(report.Stderr(), HasSubstr(dir.File("absent")));
  Process version({Bin("fedlearn-report"), "--version"}, dir.File("version"));
  EXPECT_EQ(version.Wait(60s), 0);
  EXPECT_THAT(version.Stdout(), HasSubstr("fedlearn-report "));
}

// An evaluation-only job (fedlearn-coordinator --evaluate-model) leaves
// evaluation.jsonl alone (its line as FileRunStore writes it).
TEST(RunReportE2eTest, EvaluationJobStateDirectoryYieldsItsReport) {
  ScopedTempDir dir;
  std::filesystem::create_directories(dir.File("job"));
  std::ofstream(dir.File("job/evaluation.jsonl"))
      << R"({"run_id":"fedeval","round":1,"model_version":1,)"
         R"("kind":"evaluation","secure":true,"selected":3,"participants":3,)"
         R"("model_file":"/x/round-000001.fmodel",)"
         R"("model_file_run_id":"fedeval",)"
         R"("federated_eval":{"model_version":1,"secure":true,"sites":3,)"
         R"("examples":113,"accuracy":0.9646,"loss":0.11},)"
         R"("unix_ms":1796134703798})"
      << "\n";
  Process report({Bin("fedlearn-report"), dir.File("job")}, dir.File("report"));
  ASSERT_EQ(report.Wait(60s), 0) << report.Stderr();
  EXPECT_THAT(report.Stdout(),
              HasSubstr("(1 evaluation(s) of evaluation-only job 'fedeval')"));
  EXPECT_THAT(Slurp(dir.File("job/report.html")),
              HasSubstr("<h1>Evaluation report: fedeval</h1>"));
}

}  // namespace
}  // namespace fedlearn
