#include "server/run_store.h"

#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/util/atomic_file.h"
#include "common/wire/model_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

using TempDir = testing_util::ScopedTempDir;

FlatModel MakeModel(uint32_t seed) {
  FlatModel m;
  m.spec.architecture = "mlp";
  m.spec.tensors.push_back(TensorSpec{"fc1.weight", {4, 3}, DType::kFloat32});
  m.spec.tensors.push_back(TensorSpec{"fc1.bias", {4}, DType::kFloat32});
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(16);
  for (float& v : values) v = normal(rng);
  m.values = FlatVector(std::move(values));
  return m;
}

RoundSummary Summary(uint64_t round) {
  RoundSummary s;
  s.run_id = "store-run";
  s.round = round;
  s.attempt = 2;
  s.selected = 5;
  s.participants = 4;
  s.rejected = 1;
  s.train_loss = 0.625;
  s.total_examples = 1500;
  s.seconds = 3.5;
  s.model_version = round;
  return s;
}

void ExpectSameModel(const FlatModel& actual, const FlatModel& expected) {
  EXPECT_TRUE(actual.spec.CompatibleWith(expected.spec))
      << actual.spec.DescribeMismatch(expected.spec);
  EXPECT_EQ(actual.spec.architecture, expected.spec.architecture);
  ASSERT_EQ(actual.values.size(), expected.values.size());
  EXPECT_EQ(std::memcmp(actual.values.data(), expected.values.data(),
                        4 * expected.values.size()),
            0);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class FileRunStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FileRunStore>> store =
        FileRunStore::Open(dir_.path() + "/state");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  TempDir dir_;
  std::unique_ptr<FileRunStore> store_;
};

TEST_F(FileRunStoreTest, OpenCreatesTheModelsDirectory) {
  EXPECT_TRUE(std::filesystem::is_directory(dir_.path() + "/state/models"));
  EXPECT_FALSE(FileRunStore::Open("").ok());
}

TEST_F(FileRunStoreTest, NoCheckpointYetIsNullopt) {
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_FALSE(cp->has_value());
}

TEST_F(FileRunStoreTest, RoundCompletedWritesModelMetricsAndCheckpoint) {
  const FlatModel model = MakeModel(1);
  RoundSummary summary = Summary(1);
  summary.eval = EvalMetrics{0.875, 0.25, 10000};
  ASSERT_TRUE(store_->OnRoundCompleted(summary, model).ok());

  absl::StatusOr<SavedModel> saved = ReadModelFile(store_->ModelPath(1));
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->ref.run_id(), "store-run");
  EXPECT_EQ(saved->ref.round(), 1u);
  EXPECT_EQ(saved->ref.model_version(), 1u);
  ExpectSameModel(saved->model, model);
  EXPECT_THAT(store_->ModelPath(1), HasSubstr("models/round-000001.fmodel"));

  absl::StatusOr<std::string> metrics = ReadFileToString(store_->MetricsPath());
  ASSERT_TRUE(metrics.ok());
  const std::vector<std::string> lines = Lines(*metrics);
  ASSERT_THAT(lines, SizeIs(1));
  const nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j.at("run_id"), "store-run");
  EXPECT_EQ(j.at("round"), 1);
  EXPECT_EQ(j.at("attempt"), 2);
  EXPECT_EQ(j.at("model_version"), 1);
  EXPECT_EQ(j.at("selected"), 5);
  EXPECT_EQ(j.at("participants"), 4);
  EXPECT_EQ(j.at("rejected"), 1);
  EXPECT_DOUBLE_EQ(j.at("examples").get<double>(), 1500.0);
  EXPECT_DOUBLE_EQ(j.at("train_loss").get<double>(), 0.625);
  EXPECT_DOUBLE_EQ(j.at("seconds").get<double>(), 3.5);
  EXPECT_DOUBLE_EQ(j.at("test_accuracy").get<double>(), 0.875);
  EXPECT_DOUBLE_EQ(j.at("test_loss").get<double>(), 0.25);
  EXPECT_EQ(j.at("test_examples"), 10000);
  EXPECT_GT(j.at("unix_ms").get<int64_t>(), int64_t{1'600'000'000'000});

  absl::StatusOr<std::string> checkpoint =
      ReadFileToString(store_->CheckpointPath());
  ASSERT_TRUE(checkpoint.ok());
  const nlohmann::json c = nlohmann::json::parse(*checkpoint);
  EXPECT_EQ(c.at("run_id"), "store-run");
  EXPECT_EQ(c.at("completed_round"), 1);
  EXPECT_EQ(c.at("model_file"), store_->ModelPath(1));
}

TEST_F(FileRunStoreTest, MetricsOmitTestFieldsWithoutEvaluation) {
  ASSERT_TRUE(store_->OnRoundCompleted(Summary(1), MakeModel(1)).ok());
  absl::StatusOr<std::string> metrics = ReadFileToString(store_->MetricsPath());
  ASSERT_TRUE(metrics.ok());
  const nlohmann::json j = nlohmann::json::parse(Lines(*metrics).at(0));
  EXPECT_FALSE(j.contains("test_accuracy"));
  EXPECT_FALSE(j.contains("test_loss"));
}

TEST_F(FileRunStoreTest, LoadCheckpointReturnsTheLastRoundsModelExactly) {
  ASSERT_TRUE(store_->SaveInitialModel("store-run", MakeModel(100)).ok());
  for (uint64_t round = 1; round <= 3; ++round) {
    ASSERT_TRUE(
        store_->OnRoundCompleted(Summary(round), MakeModel(round)).ok());
  }
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
  ASSERT_TRUE(cp.ok()) << cp.status();
  ASSERT_TRUE(cp->has_value());
  EXPECT_EQ((*cp)->run_id, "store-run");
  EXPECT_EQ((*cp)->completed_round, 3u);
  ExpectSameModel((*cp)->model, MakeModel(3));

  absl::StatusOr<std::string> metrics = ReadFileToString(store_->MetricsPath());
  ASSERT_TRUE(metrics.ok());
  const std::vector<std::string> lines = Lines(*metrics);
  ASSERT_THAT(lines, SizeIs(3));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(nlohmann::json::parse(lines[i]).at("round"), i + 1);
  }
  // Every round's model stays on disk (the lineage).
  for (uint64_t round = 0; round <= 3; ++round) {
    EXPECT_TRUE(std::filesystem::exists(store_->ModelPath(round))) << round;
  }
}

TEST_F(FileRunStoreTest, InitialModelIsACheckpointOfRoundZero) {
  ASSERT_TRUE(store_->SaveInitialModel("store-run", MakeModel(9)).ok());
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
  ASSERT_TRUE(cp.ok()) << cp.status();
  ASSERT_TRUE(cp->has_value());
  EXPECT_EQ((*cp)->completed_round, 0u);
  ExpectSameModel((*cp)->model, MakeModel(9));
}

TEST_F(FileRunStoreTest, ReopeningTheDirectoryFindsTheCheckpoint) {
  ASSERT_TRUE(store_->OnRoundCompleted(Summary(2), MakeModel(2)).ok());
  absl::StatusOr<std::unique_ptr<FileRunStore>> reopened =
      FileRunStore::Open(dir_.path() + "/state");
  ASSERT_TRUE(reopened.ok());
  absl::StatusOr<std::optional<RunCheckpoint>> cp =
      (*reopened)->LoadCheckpoint();
  ASSERT_TRUE(cp.ok()) << cp.status();
  ASSERT_TRUE(cp->has_value());
  EXPECT_EQ((*cp)->completed_round, 2u);
}

TEST_F(FileRunStoreTest, CorruptCheckpointJsonIsDataLoss) {
  for (const char* text : {"{not json", "", "[]", "{\"run_id\": \"r\"}",
                           "{\"run_id\": 5, \"completed_round\": 1}",
                           "{\"run_id\": \"r\", \"completed_round\": -1}",
                           "{\"run_id\": \"r\", \"completed_round\": \"1\"}"}) {
    ASSERT_TRUE(WriteFileAtomically(store_->CheckpointPath(), text).ok());
    absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
    EXPECT_EQ(cp.status().code(), absl::StatusCode::kDataLoss) << text;
  }
}

RoundSummary DpSummary(uint64_t round) {
  RoundSummary s = Summary(round);
  s.train_loss = std::nan("");
  RoundSummary::Dp dp;
  dp.mode = "distributed";
  dp.epsilon = 1.0 / 3.0;
  dp.delta = 1e-5;
  dp.noise_multiplier = 1.1;
  dp.sampling_rate = 0.1;
  dp.expected_clients = 100;
  dp.clip_norm = 0.7;
  dp.unclipped_fraction = std::nan("");
  // Values that need all 17 digits to survive a text round trip.
  dp.state.ledger = {{0.1, 1.0 / 3.0, 2},
                     {0.1 + 1e-17 * 3, 0.7071067811865476, 5}};
  dp.state.clip_norm = 0.1 + 0.2;
  dp.state.distributed_rdp = {1.0 / 3.0, 2.0 / 7.0, 1e-300};
  dp.state.distributed_rounds = 9;
  s.dp = dp;
  return s;
}

TEST_F(FileRunStoreTest, DpLedgerRoundTripsBitExactlyThroughTheCheckpoint) {
  const RoundSummary summary = DpSummary(4);
  ASSERT_TRUE(store_->OnRoundCompleted(summary, MakeModel(4)).ok());
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
  ASSERT_TRUE(cp.ok()) << cp.status();
  ASSERT_TRUE((*cp)->dp.has_value());
  const DpState& restored = *(*cp)->dp;
  ASSERT_EQ(restored.ledger.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(restored.ledger[i].sampling_rate,
              summary.dp->state.ledger[i].sampling_rate);
    EXPECT_EQ(restored.ledger[i].noise_multiplier,
              summary.dp->state.ledger[i].noise_multiplier);
    EXPECT_EQ(restored.ledger[i].count, summary.dp->state.ledger[i].count);
  }
  EXPECT_EQ(restored.clip_norm, 0.1 + 0.2);
  EXPECT_EQ(restored.distributed_rdp, summary.dp->state.distributed_rdp);
  EXPECT_EQ(restored.distributed_rounds, 9);
  // The metrics line reports epsilon and the clip; the loss is null.
  absl::StatusOr<std::string> metrics = ReadFileToString(store_->MetricsPath());
  ASSERT_TRUE(metrics.ok());
  const nlohmann::json j = nlohmann::json::parse(Lines(*metrics).back());
  EXPECT_EQ(j["dp"]["mode"], "distributed");
  EXPECT_DOUBLE_EQ(j["dp"]["epsilon"].get<double>(), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(j["dp"]["clip_norm"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(j["dp"]["next_clip_norm"].get<double>(), 0.1 + 0.2);
  EXPECT_TRUE(j["train_loss"].is_null());
}

TEST_F(FileRunStoreTest, NonDpCheckpointHasNoLedger) {
  ASSERT_TRUE(store_->OnRoundCompleted(Summary(1), MakeModel(1)).ok());
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
  ASSERT_TRUE(cp.ok());
  EXPECT_FALSE((*cp)->dp.has_value());
}

TEST_F(FileRunStoreTest, CorruptPrivacyLedgerIsDataLoss) {
  ASSERT_TRUE(store_->OnRoundCompleted(DpSummary(1), MakeModel(1)).ok());
  absl::StatusOr<std::string> text = ReadFileToString(store_->CheckpointPath());
  ASSERT_TRUE(text.ok());
  nlohmann::json good = nlohmann::json::parse(*text);
  // An unsealed (earlier version's) checkpoint: the ledger's own checks,
  // not the checksum (a sealed file's damage is caught by its digest).
  for (const char* key : {"checkpoint_sha256", "format", "model_sha256"}) {
    good.erase(key);
  }
  std::vector<nlohmann::json> bad(7, good);
  bad[0]["dp"] = "lost";
  bad[1]["dp"].erase("ledger");
  bad[2]["dp"]["ledger"][0].erase("noise_multiplier");
  bad[3]["dp"]["ledger"][0]["rounds"] = -2;
  bad[4]["dp"]["clip_norm"] = "0.3";
  bad[5]["dp"]["distributed_rdp"][1] = "x";
  bad[6]["dp"].erase("distributed_rounds");
  for (const nlohmann::json& j : bad) {
    ASSERT_TRUE(WriteFileAtomically(store_->CheckpointPath(), j.dump()).ok());
    absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
    EXPECT_EQ(cp.status().code(), absl::StatusCode::kDataLoss) << j.dump();
    EXPECT_THAT(std::string(cp.status().message()),
                HasSubstr("privacy ledger"));
  }
}

TEST_F(FileRunStoreTest, CheckpointNamingAMissingModelFileIsDataLoss) {
  ASSERT_TRUE(store_->OnRoundCompleted(Summary(1), MakeModel(1)).ok());
  ASSERT_TRUE(std::filesystem::remove(store_->ModelPath(1)));
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(cp.status().message()), HasSubstr("round 1"));
}

TEST_F(FileRunStoreTest, CheckpointNamingACorruptedModelFileIsDataLoss) {
  ASSERT_TRUE(store_->OnRoundCompleted(Summary(1), MakeModel(1)).ok());
  absl::StatusOr<std::string> bytes = ReadFileToString(store_->ModelPath(1));
  ASSERT_TRUE(bytes.ok());
  std::string corrupted = *bytes;
  corrupted[corrupted.size() - 5] ^= 0x01;  // inside the float payload
  ASSERT_TRUE(WriteFileAtomically(store_->ModelPath(1), corrupted).ok());
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FileRunStoreTest, ModelFileFromAnotherRunIsDataLoss) {
  ASSERT_TRUE(store_->OnRoundCompleted(Summary(1), MakeModel(1)).ok());
  nlohmann::json c;
  c["run_id"] = "some-other-run";
  c["completed_round"] = 1;
  ASSERT_TRUE(WriteFileAtomically(store_->CheckpointPath(), c.dump()).ok());
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(cp.status().message()), HasSubstr("some-other-run"));
}

TEST_F(FileRunStoreTest, RoundCompletedFailsWhenTheStateDirectoryIsGone) {
  std::filesystem::remove_all(dir_.path() + "/state");
  EXPECT_FALSE(store_->OnRoundCompleted(Summary(1), MakeModel(1)).ok());
}

TEST_F(FileRunStoreTest, RoundCompletedRefusesAModelThatDisagreesWithItsSpec) {
  FlatModel bad = MakeModel(1);
  bad.spec.tensors[1].shape = {5};
  EXPECT_FALSE(store_->OnRoundCompleted(Summary(1), bad).ok());
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store_->LoadCheckpoint();
  ASSERT_TRUE(cp.ok());
  EXPECT_FALSE(cp->has_value()) << "checkpoint written for an unsaved model";
}

TEST(RoundSummaryToJsonTest, IsOneLineOfJsonWithTheGivenTimestamp) {
  const std::string line = RoundSummaryToJson(Summary(7), 1234567);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("round"), 7);
  EXPECT_EQ(j.at("unix_ms"), 1234567);
}

}  // namespace
}  // namespace fedlearn
