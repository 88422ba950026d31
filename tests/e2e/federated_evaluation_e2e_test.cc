// End to end, the two federated-evaluation paths that only real processes
// exercise: the evaluation-only job (fedlearn-coordinator --evaluate-model)
// and a run's final evaluation-only round redone after the coordinator was
// killed during it (Coordinator::Start's HasFinalEvaluation check). The
// real coordinator and three fedlearn-client processes over mutual TLS on
// 127.0.0.1 (OS-chosen port), secure aggregation on, each site with its own
// third of examples/hospital/breast_cancer.csv.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/process.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_e2e::Process;
using testing_util::ScopedTempDir;
using namespace std::chrono_literals;

constexpr int kSites = 3;
constexpr double kHoldoutFraction = 0.2;

std::string Bin(const std::string& name) {
  return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The JSON objects of a JSON-lines file, in order.
std::vector<nlohmann::json> JsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    out.push_back(nlohmann::json::parse(line, nullptr, false));
  }
  return out;
}

// Every regular file under `dir` (relative path -> contents).
std::map<std::string, std::string> Files(const std::string& dir) {
  std::map<std::string, std::string> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) {
      out[std::filesystem::relative(e.path(), dir).string()] =
          Slurp(e.path().string());
    }
  }
  return out;
}

class FederatedEvaluationE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    Process certs({Bin("fedlearn-certs"), "init", "--out", Dir("certs"),
                   "--clients", std::to_string(kSites)},
                  Dir("certs"));
    ASSERT_EQ(certs.Wait(60s), 0) << certs.Stderr();
    WriteSites();
  }

  std::string Dir(const std::string& name) const { return dir_.File(name); }

  // Row i of the hospital table goes to site i % 3; counts each site's
  // classes to know how many rows it holds out (holdout_split.h: a class of
  // n >= 2 holds out clamp(round(f * n), 1, n - 1), halves up).
  void WriteSites() {
    std::ifstream in(std::string(FEDLEARN_SOURCE_DIR) +
                     "/examples/hospital/breast_cancer.csv");
    std::getline(in, header_);
    std::vector<std::ofstream> out;
    std::vector<std::map<std::string, int>> classes(kSites);
    for (int s = 0; s < kSites; ++s) {
      out.emplace_back(SitePath(s));
      out.back() << header_ << "\n";
    }
    std::string line;
    for (int i = 0; std::getline(in, line); ++i) {
      if (line.empty()) continue;
      out[i % kSites] << line << "\n";
      ++classes[i % kSites][line.substr(line.rfind(',') + 1)];
    }
    held_out_ = 0;
    for (const auto& site : classes) {
      for (const auto& [label, n] : site) {
        const int h = static_cast<int>(kHoldoutFraction * n + 0.5);
        held_out_ += n < 2 ? 0 : std::clamp(h, 1, n - 1);
      }
    }
  }
  std::string SitePath(int s) const {
    return Dir("site" + std::to_string(s) + ".csv");
  }

  // The run's configuration: logreg (or another [model]) over the table,
  // secure aggregation, every site in every round.
  std::string WriteConfig(const std::string& name, const std::string& model,
                          int every, bool final_round) const {
    std::string features = header_.substr(0, header_.rfind(','));
    std::string quoted;
    for (size_t p = 0, q; p <= features.size(); p = q + 1) {
      q = features.find(',', p);
      if (q == std::string::npos) q = features.size();
      quoted +=
          (quoted.empty() ? "\"" : ", \"") + features.substr(p, q - p) + "\"";
    }
    std::ofstream out(Dir(name));
    out << "[run]\nid = \"fedeval\"\nrounds = 1\nseed = 3\n"
        << "[rounds]\nmin_clients = 3\nclients_per_round = 0\n"
        << "fraction = 1.0\nmin_updates = 3\ntimeout_s = 60\n"
        << "[secagg]\nenabled = true\nphase_timeout_s = 10\n"
        << "[data]\nlabel_column = \"diagnosis\"\n"
        << "classes = [\"malignant\", \"benign\"]\n"
        << "numeric_features = [" << quoted << "]\n"
        << "[model]\n"
        << model << "\n"
        << "[training]\nlocal_epochs = 1\nbatch_size = 32\n"
        << "[evaluation]\ndataset = \"\"\nevery = " << every
        << "\nfinal = " << (final_round ? "true" : "false")
        << "\nholdout_fraction = " << kHoldoutFraction << "\n"
        << "[security]\nenrolled_clients = [\"client-001\", \"client-002\", "
           "\"client-003\"]\n";
    return Dir(name);
  }

  // Starts the coordinator; *port is 0 if it did not come up.
  std::unique_ptr<Process> StartCoordinator(
      const std::string& config, const std::string& state, int* port,
      const std::vector<std::string>& extra = {},
      const std::string& linger_s = "2") {
    std::vector<std::string> argv = {Bin("fedlearn-coordinator"),
                                     "--config",
                                     config,
                                     "--certs",
                                     Dir("certs"),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--state-dir",
                                     state,
                                     "--linger-s",
                                     linger_s};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = std::make_unique<Process>(
        argv, Dir("coordinator-" + std::to_string(++starts_)));
    *port = 0;
    std::optional<std::string> line =
        p->WaitForOutput("listening on port ", 30s);
    if (!line) {
      ADD_FAILURE() << "coordinator did not start: " << p->Stderr();
      return p;
    }
    *port = std::stoi(line->substr(std::string("listening on port ").size()));
    return p;
  }

  std::vector<std::unique_ptr<Process>> StartSites(
      int port, const std::vector<std::string>& extra = {}) {
    std::vector<std::unique_ptr<Process>> sites;
    for (int s = 0; s < kSites; ++s) {
      const std::string id = "client-00" + std::to_string(s + 1);
      std::vector<std::string> argv = {Bin("fedlearn-client"),
                                       "--coordinator",
                                       "127.0.0.1:" + std::to_string(port),
                                       "--server-name",
                                       "localhost",
                                       "--certs",
                                       Dir("certs"),
                                       "--id",
                                       id,
                                       "--data",
                                       "csv",
                                       "--data-path",
                                       SitePath(s),
                                       "--state-dir",
                                       Dir(id + "-state"),
                                       "--max-failures",
                                       "40"};
      argv.insert(argv.end(), extra.begin(), extra.end());
      sites.push_back(std::make_unique<Process>(
          argv, Dir(id + "-" + std::to_string(starts_))));
    }
    return sites;
  }

  // A coordinator and the three sites, every process ending with 0.
  void RunToCompletion(const std::string& config, const std::string& state,
                       const std::vector<std::string>& extra = {},
                       std::string* coordinator_log = nullptr) {
    int port = 0;
    auto coordinator = StartCoordinator(config, state, &port, extra);
    ASSERT_GT(port, 0);
    auto sites = StartSites(port);
    EXPECT_EQ(coordinator->Wait(60s), 0) << coordinator->Stderr();
    for (auto& s : sites) EXPECT_EQ(s->Wait(30s), 0) << s->Stderr();
    if (coordinator_log != nullptr) *coordinator_log = coordinator->Stderr();
  }

  // What every evaluation of the three sites must publish.
  void ExpectAllSitesEvaluated(const nlohmann::json& line) const {
    SCOPED_TRACE(line.dump());
    EXPECT_EQ(line.value("participants", 0), kSites);
    ASSERT_TRUE(line.contains("federated_eval"));
    const nlohmann::json& e = line["federated_eval"];
    EXPECT_EQ(e.value("secure", false), true);
    EXPECT_EQ(e.value("sites", 0), kSites);
    EXPECT_EQ(e.value("examples", 0), held_out_);
    EXPECT_FALSE(e.contains("per_site"));
  }

  ScopedTempDir dir_;
  std::string header_;
  int held_out_ = 0;  // the three sites' held-out rows
  int starts_ = 0;
};

class EvaluateModelJobE2eTest : public FederatedEvaluationE2e {};

TEST_F(EvaluateModelJobE2eTest,
       EvaluatesAGivenModelOnEverySiteAndWritesNoModel) {
  // A one-round run gives the model file to evaluate.
  const std::string config =
      WriteConfig("run.toml", "architecture = \"logreg\"",
                  /*every=*/1, /*final_round=*/false);
  ASSERT_NO_FATAL_FAILURE(RunToCompletion(config, Dir("train")));
  const std::string model = Dir("train/models/round-000001.fmodel");
  ASSERT_TRUE(std::filesystem::exists(model));
  ASSERT_GT(held_out_, 100);  // a fifth of 569 rows
  const std::vector<nlohmann::json> trained =
      JsonLines(Dir("train/metrics.jsonl"));
  ASSERT_EQ(trained.size(), 1u);
  ExpectAllSitesEvaluated(trained[0]);  // the sites' split is as computed

  std::string log;
  ASSERT_NO_FATAL_FAILURE(
      RunToCompletion(config, Dir("job"), {"--evaluate-model", model}, &log));
  EXPECT_THAT(log, HasSubstr("(evaluation only)"));
  const std::vector<nlohmann::json> lines =
      JsonLines(Dir("job/evaluation.jsonl"));
  ASSERT_EQ(lines.size(), 1u);
  ExpectAllSitesEvaluated(lines[0]);
  EXPECT_EQ(lines[0].value("kind", ""), "evaluation");
  EXPECT_EQ(lines[0].value("model_file", ""), model);
  EXPECT_EQ(lines[0].value("run_id", ""), "fedeval");
  // The model evaluated is named by its own header: round 1's model is
  // version 1 of the run that wrote it (the job's own round is 1).
  EXPECT_EQ(lines[0].value("model_version", -1), 1);
  EXPECT_EQ(lines[0]["federated_eval"].value("model_version", -1), 1);
  EXPECT_EQ(lines[0].value("model_file_run_id", ""), "fedeval");
  EXPECT_THAT(log, HasSubstr("evaluation of model version 1"));
  // The job trains nothing and records no run: no model file, checkpoint
  // or metrics line in its state directory.
  for (const auto& [path, contents] : Files(Dir("job"))) {
    EXPECT_THAT(path, Not(HasSubstr(".fmodel"))) << path;
    EXPECT_THAT(path, Not(HasSubstr("checkpoint"))) << path;
    EXPECT_NE(path, "metrics.jsonl");
  }
}

TEST_F(EvaluateModelJobE2eTest, RefusesAModelOfAnotherArchitectureAtStart) {
  const std::string logreg = WriteConfig(
      "logreg.toml", "architecture = \"logreg\"", /*every=*/0, false);
  const std::string mlp =
      WriteConfig("mlp.toml", "architecture = \"mlp\"\nhidden_units = 8",
                  /*every=*/0, false);
  // The logreg run's initial model, written as the coordinator starts.
  int port = 0;
  {
    auto coordinator = StartCoordinator(logreg, Dir("logreg"), &port, {}, "0");
    ASSERT_GT(port, 0);
    coordinator->Signal(SIGTERM);
    EXPECT_EQ(coordinator->Wait(30s), 0) << coordinator->Stderr();
  }
  const std::string model = Dir("logreg/models/round-000000.fmodel");
  ASSERT_TRUE(std::filesystem::exists(model));

  Process job({Bin("fedlearn-coordinator"), "--config", mlp, "--certs",
               Dir("certs"), "--listen", "127.0.0.1:0", "--state-dir",
               Dir("job"), "--evaluate-model", model},
              Dir("refused"));
  EXPECT_EQ(job.Wait(30s), 1) << job.Stderr();
  EXPECT_THAT(job.Stdout(), Not(HasSubstr("listening on port")));
  EXPECT_THAT(job.Stderr(),
              HasSubstr("--evaluate-model " + model +
                        " is not a model of the configured [model]"));
  // Which side is which: the configuration's mlp, the file's logreg.
  EXPECT_THAT(job.Stderr(), HasSubstr("the configured [model] has 4 tensors "
                                      "(0 buffers), the file has 2 tensors "
                                      "(0 buffers)"));
  EXPECT_TRUE(Files(Dir("job")).empty());
  // Resuming the logreg run's state directory with the mlp: sides named too.
  Process resume(
      {Bin("fedlearn-coordinator"), "--config", mlp, "--certs", Dir("certs"),
       "--listen", "127.0.0.1:0", "--state-dir", Dir("logreg")},
      Dir("resume"));
  EXPECT_EQ(resume.Wait(30s), 1) << resume.Stderr();
  EXPECT_THAT(resume.Stderr(),
              HasSubstr("holds a different model (the configured [model] has "
                        "4 tensors (0 buffers), the checkpoint has 2 tensors "
                        "(0 buffers))"));
}

class FinalEvaluationResumeE2eTest : public FederatedEvaluationE2e {};

// Secure-aggregation messages a site sends in one round (advertise keys,
// share keys, consistency-check signature, unmasking shares; the masked
// input goes separately): a site given this + 2 dies right after sharing
// keys in the round after its first, here the final evaluation.
constexpr int kSecAggMessagesPerRound = 4;

TEST_F(FinalEvaluationResumeE2eTest,
       RestartAfterAKillDuringTheFinalEvaluationRedoesOnlyTheEvaluation) {
  const std::string config =
      WriteConfig("run.toml", "architecture = \"logreg\"",
                  /*every=*/1, /*final_round=*/true);
  const std::string state = Dir("state");
  {
    int port = 0;
    auto coordinator = StartCoordinator(config, state, &port);
    ASSERT_GT(port, 0);
    // Every site dies in the final evaluation-only round, after sharing
    // keys: the round stays open (waiting for masked inputs) until the
    // coordinator is killed.
    auto sites =
        StartSites(port, {"--testing-exit-after-secagg-messages",
                          std::to_string(kSecAggMessagesPerRound + 2)});
    for (auto& s : sites) EXPECT_EQ(s->Wait(30s), 17) << s->Stderr();
    EXPECT_THAT(coordinator->Stderr(),
                HasSubstr("to evaluate model version 1 (evaluation only)"));
    ASSERT_TRUE(coordinator->running()) << coordinator->Stderr();
    coordinator->Signal(SIGKILL);
    EXPECT_EQ(coordinator->Wait(10s), -SIGKILL);
  }
  ASSERT_EQ(JsonLines(state + "/metrics.jsonl").size(), 1u);
  ASSERT_FALSE(std::filesystem::exists(state + "/evaluation.jsonl"));
  const std::map<std::string, std::string> models = Files(state + "/models");
  const std::string metrics = Slurp(state + "/metrics.jsonl");
  ASSERT_EQ(models.size(), 2u);  // the initial model and round 1's

  std::string log;
  ASSERT_NO_FATAL_FAILURE(RunToCompletion(config, state, {}, &log));
  EXPECT_THAT(log, HasSubstr("resuming run 'fedeval' after round 1"));
  EXPECT_THAT(log, HasSubstr("to evaluate model version 1 (evaluation only)"));
  EXPECT_THAT(log, Not(HasSubstr("(with federated evaluation)")));
  EXPECT_EQ(Files(state + "/models"), models);  // no training round rerun
  EXPECT_EQ(Slurp(state + "/metrics.jsonl"), metrics);
  std::vector<nlohmann::json> lines = JsonLines(state + "/evaluation.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  ExpectAllSitesEvaluated(lines[0]);
  EXPECT_EQ(lines[0].value("round", 0), 2);
  EXPECT_EQ(lines[0].value("model_version", 0), 1);
  EXPECT_FALSE(lines[0].contains("model_file"));

  // Started once more, the finished run's final evaluation is on record:
  // nothing is redone and no site is needed.
  int port = 0;
  auto again = StartCoordinator(config, state, &port, {}, "0");
  ASSERT_GT(port, 0);
  EXPECT_EQ(again->Wait(30s), 0) << again->Stderr();
  EXPECT_THAT(again->Stdout(), HasSubstr("run 'fedeval' finished"));
  EXPECT_THAT(again->Stderr(), Not(HasSubstr("(evaluation only)")));
  EXPECT_EQ(JsonLines(state + "/evaluation.jsonl").size(), 1u);
  EXPECT_EQ(Slurp(state + "/metrics.jsonl"), metrics);
}

}  // namespace
}  // namespace fedlearn
