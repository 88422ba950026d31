// FileRunStore's evaluation.jsonl: one durable line per evaluation-only
// round, found again on resume, and an interrupted append repaired on open so
// the evaluation is redone.
#include <algorithm>
#include <fstream>
#include <string>
#include <string_view>

#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/run_store.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

FederatedEvalSummary FinalEvaluation(uint64_t model_version) {
  FederatedEvalSummary s;
  s.run_id = "run";
  s.round = model_version + 1;
  s.model_version = model_version;
  s.evaluate_only = true;
  s.secure = true;
  s.selected = 3;
  s.participants = 3;
  s.stats.sites = 3;
  s.stats.examples = 300;
  s.stats.accuracy = 0.75;
  return s;
}

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  return text.ok() ? *text : "";
}

TEST(RunStoreEvaluationTest, FinalEvaluationIsOneDurableLineFoundOnResume) {
  testing_util::ScopedTempDir dir;
  {
    auto store = FileRunStore::Open(dir.path());
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_FALSE(*(*store)->HasFinalEvaluation("run", 5));
    ASSERT_TRUE((*store)->OnEvaluationCompleted(FinalEvaluation(5)).ok());
  }
  auto store = FileRunStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE(*(*store)->HasFinalEvaluation("run", 5));
  EXPECT_FALSE(*(*store)->HasFinalEvaluation("run", 4));
  EXPECT_FALSE(*(*store)->HasFinalEvaluation("other-run", 5));
  const std::string text = Read((*store)->EvaluationPath());
  ASSERT_EQ(text.back(), '\n');
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["kind"], "evaluation");
  EXPECT_EQ(j["round"], 6);
  EXPECT_EQ(j["model_version"], 5);
  EXPECT_EQ(j["secure"], true);
  EXPECT_EQ(j["federated_eval"]["accuracy"], 0.75);
  EXPECT_EQ(j["federated_eval"]["sites"], 3);
  EXPECT_FALSE(j.contains("model_file"));
  // Nothing of the model's history: no metrics line, no checkpoint.
  EXPECT_EQ(Read((*store)->MetricsPath()), "");
  EXPECT_FALSE(*(*store)->LoadCheckpoint());
}

TEST(RunStoreEvaluationTest, TheJobsLineIsNotAFinalEvaluation) {
  testing_util::ScopedTempDir dir;
  auto store = FileRunStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  FederatedEvalSummary job = FinalEvaluation(0);
  job.model_file = "best.fmodel";
  ASSERT_TRUE((*store)->OnEvaluationCompleted(job).ok());
  EXPECT_FALSE(*(*store)->HasFinalEvaluation("run", 0));
  EXPECT_THAT(Read((*store)->EvaluationPath()),
              HasSubstr("\"model_file\":\"best.fmodel\""));
}

TEST(RunStoreEvaluationTest, CrashDuringTheAppendIsRedoneWithoutHarm) {
  testing_util::ScopedTempDir dir;
  std::string torn;
  int appends = 0;
  {
    FileRunStoreOptions options;
    options.before_step_for_testing =
        [&](StoreStep step, const std::string& path, std::string_view bytes) {
          if (step != StoreStep::kAppendEvaluation || appends++ == 0) {
            return absl::OkStatus();
          }
          // The crash: half the line reached the disk.
          torn = std::string(bytes.substr(0, bytes.size() / 2));
          std::ofstream(path, std::ios::app) << torn;
          return absl::InternalError("crashed");
        };
    auto store = FileRunStore::Open(dir.path(), options);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->OnEvaluationCompleted(FinalEvaluation(0)).ok());
    EXPECT_FALSE((*store)->OnEvaluationCompleted(FinalEvaluation(2)).ok());
  }
  ASSERT_FALSE(torn.empty());
  auto store = FileRunStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_THAT((*store)->recovery_notes().back(), HasSubstr("evaluation.jsonl"));
  EXPECT_FALSE(*(*store)->HasFinalEvaluation("run", 2)) << "to be redone";
  EXPECT_TRUE(*(*store)->HasFinalEvaluation("run", 0)) << "kept";
  // Redone: the file holds exactly the two whole lines.
  ASSERT_TRUE((*store)->OnEvaluationCompleted(FinalEvaluation(2)).ok());
  const std::string text = Read((*store)->EvaluationPath());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  auto reopened = FileRunStore::Open(dir.path());
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE((*reopened)->recovery_notes().empty());
  EXPECT_TRUE(*(*reopened)->HasFinalEvaluation("run", 2));
}

TEST(RunStoreEvaluationTest, CorruptLineBeforeTheLastIsRefused) {
  testing_util::ScopedTempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.path() + "/evaluation.jsonl",
                                  "not json\n{\"round\":1}\n")
                  .ok());
  absl::StatusOr<std::unique_ptr<FileRunStore>> store =
      FileRunStore::Open(dir.path());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace fedlearn
