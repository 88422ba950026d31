// End to end, a real consortium's first run: three hospitals, each with its
// own CSV export of the same table (different case, quoting, column order,
// an extra ID column, CRLF), the real coordinator and client processes over
// mutual TLS with secure aggregation. The run's [data] contract must make
// them train the same model as three clean exports; a site whose export has
// a label outside the declared classes is refused with a message naming the
// value, tells the coordinator, exits 78, and the other sites carry the run.
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/process.h"

namespace fedlearn {
namespace {

using testing_e2e::Process;
using namespace std::chrono_literals;

std::string Bin(const std::string& name) {
  return std::string(FEDLEARN_BINARY_DIR) + "/bin/" + name;
}

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

Table ReadHospitalTable() {
  std::ifstream in(std::string(FEDLEARN_SOURCE_DIR) +
                   "/examples/hospital/breast_cancer.csv");
  Table t;
  std::string line;
  std::getline(in, line);
  t.header = absl::StrSplit(line, ',');
  while (std::getline(in, line)) {
    if (!line.empty()) t.rows.push_back(absl::StrSplit(line, ','));
  }
  return t;
}

enum class Style { kClean, kQuotedCapitalised, kReorderedWithIdCrlf };

// One site's export of `rows` in the given style.
std::string Export(const Table& t, const std::vector<size_t>& rows, Style style,
                   const std::string& typo_label = "") {
  const size_t label = t.header.size() - 1;
  std::vector<size_t> order(t.header.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (style == Style::kReorderedWithIdCrlf) {
    std::reverse(order.begin(), order.end());
  }
  const std::string eol = style == Style::kReorderedWithIdCrlf ? "\r\n" : "\n";
  auto cell = [&](std::string v, bool is_label) {
    if (style == Style::kQuotedCapitalised) {
      if (is_label) v[0] = static_cast<char>(std::toupper(v[0]));
      return "\"" + v + "\"";
    }
    if (style == Style::kReorderedWithIdCrlf && is_label) return "  " + v + " ";
    return v;
  };
  std::ostringstream out;
  std::vector<std::string> head;
  if (style == Style::kReorderedWithIdCrlf) head.push_back("patient_id");
  for (size_t c : order) {
    head.push_back(style == Style::kQuotedCapitalised
                       ? "\"" + t.header[c] + "\""
                       : t.header[c]);
  }
  out << absl::StrJoin(head, ",") << eol;
  for (size_t k = 0; k < rows.size(); ++k) {
    std::vector<std::string> fields;
    if (style == Style::kReorderedWithIdCrlf) {
      fields.push_back("P" + std::to_string(10000 + rows[k]));
    }
    for (size_t c : order) {
      std::string v = t.rows[rows[k]][c];
      if (c == label && k == 3 && !typo_label.empty()) v = typo_label;
      fields.push_back(cell(v, c == label));
    }
    out << absl::StrJoin(fields, ",") << eol;
  }
  return out.str();
}

class ConsortiumCsvE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/consortium_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Process certs({Bin("fedlearn-certs"), "init", "--out", dir_ + "/certs",
                   "--clients", "4"},
                  dir_ + "/certs");
    ASSERT_EQ(certs.Wait(60s), 0) << certs.Stderr();
    table_ = ReadHospitalTable();
    ASSERT_EQ(table_.rows.size(), 569u);
    // Every fifth row is held out for evaluation; the rest go round-robin
    // to the three sites.
    std::vector<size_t> holdout;
    for (size_t i = 0; i < table_.rows.size(); ++i) {
      (i % 5 == 0 ? holdout : site_rows_[(i / 5 + i) % 3]).push_back(i);
    }
    std::ofstream(dir_ + "/holdout.csv")
        << Export(table_, holdout, Style::kClean);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void WriteConfig(int min_clients, int min_updates) {
    std::vector<std::string> features(table_.header.begin(),
                                      table_.header.end() - 1);
    std::ofstream out(dir_ + "/coordinator.toml");
    out << "[run]\nid = \"consortium\"\nrounds = 8\nseed = 3\n"
        << "[rounds]\nmin_clients = " << min_clients
        << "\nclients_per_round = 0\nfraction = 1.0\nmin_updates = "
        << min_updates << "\ntimeout_s = 60\n"
        << "[secagg]\nphase_timeout_s = 10\n"
        << "[data]\nlabel_column = \"diagnosis\"\n"
        << "classes = [\"malignant\", \"benign\"]\n"
        << "label_match = \"case-insensitive\"\n"
        << "numeric_features = [\"" << absl::StrJoin(features, "\", \"")
        << "\"]\n"
        << "[model]\narchitecture = \"mlp\"\nhidden_units = 16\n"
        << "[training]\noptimizer = \"adam\"\nlearning_rate = 0.01\n"
        << "momentum = 0.0\nlocal_epochs = 2\nbatch_size = 16\n"
        << "[evaluation]\ndataset = \"\"\n"
        << "[security]\nenrolled_clients = [\"client-001\", \"client-002\", "
           "\"client-003\", \"client-004\"]\n";
  }

  std::unique_ptr<Process> StartCoordinator(int* port) {
    auto p = std::make_unique<Process>(
        std::vector<std::string>{
            Bin("fedlearn-coordinator"), "--config", dir_ + "/coordinator.toml",
            "--certs", dir_ + "/certs", "--listen", "127.0.0.1:0",
            "--state-dir", dir_ + "/state", "--linger-s", "4"},
        dir_ + "/coordinator");
    std::optional<std::string> line =
        p->WaitForOutput("listening on port ", 60s);
    if (!line) {
      ADD_FAILURE() << "coordinator did not start: " << p->Stderr();
      return p;
    }
    *port = std::stoi(line->substr(std::string("listening on port ").size()));
    return p;
  }

  std::unique_ptr<Process> StartSite(int i, int port,
                                     std::vector<std::string> extra = {}) {
    const std::string id = "client-00" + std::to_string(i + 1);
    std::vector<std::string> argv = {
        Bin("fedlearn-client"),
        "--coordinator",
        "127.0.0.1:" + std::to_string(port),
        "--server-name",
        "localhost",
        "--certs",
        dir_ + "/certs",
        "--id",
        id,
        "--data",
        "csv",
        "--data-path",
        dir_ + "/site" + std::to_string(i) + ".csv",
        "--state-dir",
        dir_ + "/site" + std::to_string(i) + "-state",
        "--max-failures",
        "40"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(argv, dir_ + "/" + id);
  }

  void WriteSites(bool messy, const std::string& typo = "") {
    const Style styles[3] = {
        Style::kClean, messy ? Style::kQuotedCapitalised : Style::kClean,
        messy ? Style::kReorderedWithIdCrlf : Style::kClean};
    for (int i = 0; i < 3; ++i) {
      std::ofstream(dir_ + "/site" + std::to_string(i) + ".csv")
          << Export(table_, site_rows_[i], styles[i], i == 2 ? typo : "");
    }
  }

  // Runs three sites to completion; returns the holdout accuracy of the
  // final model as site 0 scores it with fedlearn-predict.
  double RunAndEvaluate(bool messy) {
    std::filesystem::remove_all(dir_ + "/state");
    WriteSites(messy);
    WriteConfig(3, 3);
    int port = 0;
    auto coordinator = StartCoordinator(&port);
    if (port == 0) return -1;
    std::vector<std::unique_ptr<Process>> sites;
    for (int i = 0; i < 3; ++i) {
      sites.push_back(StartSite(
          i, port,
          i == 2 && messy
              ? std::vector<std::string>{"--ignore-columns", "patient_id"}
              : std::vector<std::string>{}));
    }
    EXPECT_EQ(coordinator->Wait(180s), 0) << coordinator->Stderr();
    for (auto& s : sites) EXPECT_EQ(s->Wait(60s), 0) << s->Stderr();
    // Every progress line starts with a local timestamp (an operator reading
    // a long run's output needs to know when each round ended).
    const std::regex progress(
        R"(^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} round +\d+/8 \|)");
    int progress_lines = 0;
    const std::vector<std::string> lines =
        absl::StrSplit(coordinator->Stdout(), '\n');
    for (const std::string& line : lines) {
      if (line.find(" round ") != std::string::npos &&
          line.find('|') != std::string::npos) {
        EXPECT_TRUE(std::regex_search(line, progress)) << line;
        ++progress_lines;
      }
    }
    EXPECT_EQ(progress_lines, 8);
    Process predict(
        {Bin("fedlearn-predict"), "--model",
         dir_ + "/state/models/round-000008.fmodel", "--site-state",
         dir_ + "/site0-state", "--data", dir_ + "/holdout.csv", "--evaluate"},
        dir_ + "/predict");
    EXPECT_EQ(predict.Wait(60s), 0) << predict.Stderr();
    const std::string out = predict.Stdout();
    const size_t at = out.find("accuracy ");
    if (at == std::string::npos) {
      ADD_FAILURE() << "no accuracy in: " << out;
      return -1;
    }
    return std::stod(out.substr(at + 9));
  }

  std::string dir_;
  Table table_;
  std::vector<size_t> site_rows_[3];
};

TEST_F(ConsortiumCsvE2eTest,
       DifferentlyFormattedExportsTrainAsWellAsCleanOnes) {
  const double clean = RunAndEvaluate(/*messy=*/false);
  const double messy = RunAndEvaluate(/*messy=*/true);
  EXPECT_GE(clean, 0.90);
  EXPECT_GE(messy, 0.90);
  // Before the run contract, the capitalised site had its classes inverted
  // and the run scored 18-25%.
  EXPECT_NEAR(messy, clean, 0.03);
}

TEST_F(ConsortiumCsvE2eTest,
       UnknownLabelIsRefusedByNameAndTheOthersCarryTheRun) {
  WriteSites(/*messy=*/false);
  // A fourth site whose export has a typo'd label in one row.
  std::ofstream(dir_ + "/site3.csv")
      << Export(table_, site_rows_[2], Style::kClean, "maligant");
  WriteConfig(/*min_clients=*/3, /*min_updates=*/3);
  int port = 0;
  auto coordinator = StartCoordinator(&port);
  ASSERT_GT(port, 0);
  std::vector<std::unique_ptr<Process>> sites;
  for (int i = 0; i < 4; ++i) sites.push_back(StartSite(i, port));
  // The typo'd site stops at once with EX_CONFIG, naming the value.
  EXPECT_EQ(sites[3]->Wait(60s), 78) << sites[3]->Stderr();
  EXPECT_NE(sites[3]->Stderr().find("maligant"), std::string::npos)
      << sites[3]->Stderr();
  EXPECT_NE(sites[3]->Stderr().find("malignant"), std::string::npos)
      << "the message should list the declared classes: " << sites[3]->Stderr();
  // The coordinator records which site failed and why, and finishes.
  EXPECT_EQ(coordinator->Wait(180s), 0) << coordinator->Stderr();
  EXPECT_NE(coordinator->Stderr().find("client-004 cannot take part"),
            std::string::npos)
      << coordinator->Stderr();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sites[i]->Wait(60s), 0);
}

}  // namespace
}  // namespace fedlearn
