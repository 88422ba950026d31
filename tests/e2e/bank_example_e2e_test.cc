// End to end, the bank example as `make bank-demo` runs it
// (examples/bank/run_bank_demo.sh): a coordinator and five fedlearn-client
// processes, each bank with only its own CSV, mutual TLS on 127.0.0.1,
// secure aggregation and federated evaluation every round, here for two
// training rounds plus the final evaluation-only round. Every evaluation
// must be secure, count all five banks and every held-out row, carry
// PR-AUC and the age-band groups, and the final model's PR-AUC must beat
// the fraud rate of the held-out rows (what a random score gets).
#include <csignal>
#include <filesystem>
#include <fstream>
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
using testing_e2e::Process;
using testing_util::ScopedTempDir;
using namespace std::chrono_literals;

constexpr int kRounds = 2;

// The "federated_eval" objects of a JSON-lines file, in order, each with
// "secure" set from the line when the object does not carry it
// (evaluation.jsonl keeps it beside the object).
std::vector<nlohmann::json> Evaluations(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("federated_eval")) {
      nlohmann::json e = j["federated_eval"];
      if (!e.contains("secure") && j.contains("secure")) {
        e["secure"] = j["secure"];
      }
      out.push_back(e);
    }
  }
  return out;
}

TEST(BankExampleE2eTest, FiveBanksReportSecurePrAucAboveTheFraudRate) {
  ScopedTempDir dir;
  const std::string work = dir.File("bank");
  Process demo(
      {"/bin/sh",
       std::string(FEDLEARN_SOURCE_DIR) + "/examples/bank/run_bank_demo.sh",
       FEDLEARN_BINARY_DIR, work, std::to_string(kRounds)},
      dir.File("demo"));
  const std::optional<int> code = demo.Wait(120s);
  if (!code.has_value()) {
    demo.Signal(SIGTERM);  // the script stops the processes it started
    demo.Wait(10s);
  }
  ASSERT_EQ(code, 0) << demo.Stdout() << demo.Stderr();

  std::vector<nlohmann::json> evals =
      Evaluations(work + "/state/metrics.jsonl");
  ASSERT_EQ(evals.size(), static_cast<size_t>(kRounds));  // every = 1
  const std::vector<nlohmann::json> final_eval =
      Evaluations(work + "/state/evaluation.jsonl");
  ASSERT_EQ(final_eval.size(), 1u);  // final = true
  evals.push_back(final_eval[0]);
  for (const nlohmann::json& e : evals) {
    SCOPED_TRACE(e.dump());
    EXPECT_EQ(e.value("sites", 0), 5);
    EXPECT_EQ(e.value("secure", false), true);
    // A stratified 20% of 11,000 rows; the split rounds per bank and class.
    EXPECT_NEAR(e.value("examples", 0.0), 2200, 10);
    ASSERT_TRUE(e.contains("binary"));
    ASSERT_TRUE(e["binary"]["pr_auc"].is_number());
    ASSERT_TRUE(e.contains("groups"));
    EXPECT_EQ(e["groups"].size(), 4u);
    EXPECT_FALSE(e.contains("per_site"));  // secure, per_site off
  }
  const nlohmann::json& last = evals.back();
  const double positives =
      last["binary"]["tp"].get<double>() + last["binary"]["fn"].get<double>();
  const double fraud_rate = positives / last["examples"].get<double>();
  EXPECT_GT(positives, 20);  // 207 fraud rows, a fifth held out
  EXPECT_GT(last["binary"]["pr_auc"].get<double>(), fraud_rate)
      << "fraud rate " << fraud_rate;
  // The demo's own output: one line per evaluation, and the report.
  EXPECT_THAT(demo.Stdout(), HasSubstr("pr-auc"));
  EXPECT_TRUE(std::filesystem::exists(work + "/state/report.html"));
}

}  // namespace
}  // namespace fedlearn
