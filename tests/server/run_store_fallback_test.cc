// FileRunStore's checksums and its fallback to the previous good checkpoint
// (issue 13, "Storage"): a damaged checkpoint, model or optimizer file is
// found by its SHA-256 and the run resumes from the previous checkpoint with
// a message; both damaged is an error that changes nothing; a DP ledger
// never under-counts what was released; an unwritable state directory or a
// full disk fails Open with the path and errno.
#include <errno.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/dp/rdp_accountant.h"
#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/run_store.h"
#include "server/run_store_checkpoint.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr double kSamplingRate = 0.1;
constexpr double kNoise = 1.1;

FlatModel MakeModel(uint32_t seed) {
  FlatModel m;
  m.spec.architecture = "mlp";
  m.spec.tensors.push_back(TensorSpec{"w", {6}, DType::kFloat32});
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(6);
  for (float& v : values) v = normal(rng);
  m.values = FlatVector(std::move(values));
  return m;
}

// Round `round` of a central-DP FedAvgM run whose ledger, before it, held
// `charged_before` rounds; each round has its own clip norm.
RoundSummary Summary(uint64_t round, int64_t charged_before) {
  RoundSummary s;
  s.run_id = "fallback-run";
  s.round = round;
  s.attempt = 1;
  s.model_version = round;
  s.participants = 3;
  RoundSummary::Dp d;
  d.mode = "central";
  d.delta = 1e-5;
  d.state.clip_norm = 1.0 + static_cast<double>(round);
  d.state.ledger = {{kSamplingRate, kNoise, charged_before + 1}};
  s.dp = d;
  auto opt = std::make_shared<ServerOptimizerState>();
  opt->optimizer = "fedavgm";
  opt->steps = round;
  opt->m = {static_cast<float>(round), 0.5f};
  s.strategy_state = opt;
  return s;
}

std::string Slurp(const std::string& path) {
  absl::StatusOr<std::string> s = ReadFileToString(path);
  return s.ok() ? *s : std::string("<missing>");
}

void Overwrite(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

size_t LineCount(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// Fresh per test; in /dev/shm when there is one (fsync on a disk would
// dominate the time, and the faults here are emulated).
struct TempDir : testing_util::ScopedTempDir {
  TempDir() : ScopedTempDir(kPreferRam) {}
};

// Every file under `dir` and its bytes.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out[e.path().string()] = Slurp(e.path().string());
  }
  return out;
}

class FallbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FileRunStore>> store =
        FileRunStore::Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->SaveInitialModel("fallback-run", MakeModel(0)).ok());
    for (uint64_t r = 1; r <= 3; ++r) {
      ASSERT_TRUE(
          store_->OnRoundCompleted(Summary(r, r - 1), MakeModel(r)).ok());
    }
  }

  std::unique_ptr<FileRunStore> Reopen() {
    absl::StatusOr<std::unique_ptr<FileRunStore>> store =
        FileRunStore::Open(dir_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // Checks a store that fell back from round 3 to round 2, then redoes 3.
  void ExpectResumedAfterRoundTwo(FileRunStore& store) {
    absl::StatusOr<std::optional<RunCheckpoint>> cp = store.LoadCheckpoint();
    ASSERT_TRUE(cp.ok()) << cp.status();
    ASSERT_TRUE(cp->has_value());
    EXPECT_EQ((*cp)->completed_round, 2u);
    EXPECT_EQ((*cp)->model.values.span()[0], MakeModel(2).values.span()[0]);
    ASSERT_TRUE((*cp)->strategy.has_value());
    EXPECT_EQ((*cp)->strategy->steps, 2u);
    // Round 3 was released: the ledger keeps its charge; the clip is 2's.
    ASSERT_TRUE((*cp)->dp.has_value());
    ASSERT_EQ((*cp)->dp->ledger.size(), 1u);
    EXPECT_EQ((*cp)->dp->ledger[0].count, 3);
    EXPECT_EQ((*cp)->dp->clip_norm, 3.0);
    EXPECT_EQ(LineCount(store.MetricsPath()), 2u);
    EXPECT_EQ(LineCount(dir_ + "/metrics.rolled-back.jsonl"), 1u);
    EXPECT_TRUE(fs::exists(store.StrategyStatePath(3) + ".rolled-back") ||
                fs::exists(store.StrategyStatePath(3) + ".corrupt"));
    EXPECT_TRUE(fs::exists(store.ModelPath(3) + ".rolled-back") ||
                fs::exists(store.ModelPath(3) + ".corrupt"));
    // The redo commits normally, and a reopened store has nothing to say.
    ASSERT_TRUE(store.OnRoundCompleted(Summary(3, 3), MakeModel(33)).ok());
    std::unique_ptr<FileRunStore> again = Reopen();
    ASSERT_NE(again, nullptr);
    EXPECT_THAT(again->recovery_notes(), ::testing::IsEmpty());
    EXPECT_EQ(again->LoadCheckpoint().value()->completed_round, 3u);
    EXPECT_EQ(LineCount(again->MetricsPath()), 3u);
  }

  static std::string Notes(const FileRunStore& store) {
    return absl::StrJoin(store.recovery_notes(), "\n");
  }

  TempDir tmp_;
  const std::string dir_ = tmp_.path() + "/state";
  std::unique_ptr<FileRunStore> store_;
};

TEST_F(FallbackTest, ACorruptCheckpointByteFallsBackToThePreviousOne) {
  std::string text = Slurp(store_->CheckpointPath());
  const size_t at = text.find("\"participants\": 3");
  ASSERT_NE(at, std::string::npos) << text;
  text[at + std::strlen("\"participants\": ")] = '4';  // still valid JSON
  Overwrite(store_->CheckpointPath(), text);
  std::unique_ptr<FileRunStore> store = Reopen();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(Notes(*store), AllOf(HasSubstr("checkpoint check failed: " +
                                             store->CheckpointPath()),
                                   HasSubstr("its content has SHA-256 "),
                                   HasSubstr("but the file records "),
                                   HasSubstr("resumes after round 2"),
                                   HasSubstr(store->PreviousCheckpointPath())));
  EXPECT_EQ(Slurp(store->CheckpointPath() + ".corrupt"), text);
  ExpectResumedAfterRoundTwo(*store);
}

TEST_F(FallbackTest, ATruncatedCheckpointFallsBackToThePreviousOne) {
  const std::string text = Slurp(store_->CheckpointPath());
  Overwrite(store_->CheckpointPath(), text.substr(0, text.size() / 2));
  std::unique_ptr<FileRunStore> store = Reopen();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(Notes(*store),
              AllOf(HasSubstr(absl::StrCat(store->CheckpointPath(), " (",
                                           text.size() / 2, " bytes)")),
                    HasSubstr("not JSON (truncated or damaged)"),
                    HasSubstr("resumes after round 2")));
  ExpectResumedAfterRoundTwo(*store);
}

TEST_F(FallbackTest, ACorruptModelFileFallsBackToThePreviousCheckpoint) {
  std::string bytes = Slurp(store_->ModelPath(3));
  bytes[bytes.size() - 3] ^= 0x40;
  Overwrite(store_->ModelPath(3), bytes);
  std::unique_ptr<FileRunStore> store = Reopen();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(Notes(*store),
              AllOf(HasSubstr(absl::StrCat("model file ", store->ModelPath(3),
                                           " (", bytes.size(), " bytes)")),
                    HasSubstr("but the checkpoint records "),
                    HasSubstr("resumes after round 2")));
  EXPECT_EQ(Slurp(store->ModelPath(3) + ".corrupt"), bytes);
  EXPECT_TRUE(fs::exists(store->CheckpointPath() + ".rolled-back"));
  ExpectResumedAfterRoundTwo(*store);
}

TEST_F(FallbackTest, ACorruptOptimizerFileFallsBackToThePreviousCheckpoint) {
  std::string bytes = Slurp(store_->StrategyStatePath(3));
  bytes[bytes.size() / 2] ^= 0x01;
  Overwrite(store_->StrategyStatePath(3), bytes);
  std::unique_ptr<FileRunStore> store = Reopen();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(Notes(*store),
              AllOf(HasSubstr("is not the optimizer state the checkpoint"),
                    HasSubstr("expected "), HasSubstr(", actual "),
                    HasSubstr("resumes after round 2")));
  EXPECT_EQ(Slurp(store->StrategyStatePath(3) + ".corrupt"), bytes);
  ExpectResumedAfterRoundTwo(*store);
}

TEST_F(FallbackTest, AMissingCheckpointBesideAPreviousOneFallsBack) {
  fs::remove(store_->CheckpointPath());
  std::unique_ptr<FileRunStore> store = Reopen();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(Notes(*store),
              HasSubstr(store->CheckpointPath() + " is missing"));
  ExpectResumedAfterRoundTwo(*store);
}

TEST_F(FallbackTest, BothCheckpointsBadIsDataLossAndChangesNothing) {
  const std::string text = Slurp(store_->CheckpointPath());
  Overwrite(store_->CheckpointPath(), text.substr(0, 40));
  std::string previous = Slurp(store_->PreviousCheckpointPath());
  previous[previous.size() / 3] ^= 0x08;
  Overwrite(store_->PreviousCheckpointPath(), previous);
  const std::map<std::string, std::string> before = Snapshot(dir_);
  absl::StatusOr<std::unique_ptr<FileRunStore>> store =
      FileRunStore::Open(dir_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(store.status().message()),
              AllOf(HasSubstr("cannot resume the run in " + dir_),
                    HasSubstr(store_->CheckpointPath() + " (40 bytes)"),
                    HasSubstr("the previous checkpoint is bad too: " +
                              store_->PreviousCheckpointPath()),
                    HasSubstr("Nothing was changed or removed")));
  EXPECT_EQ(Snapshot(dir_), before);
}

TEST_F(FallbackTest, AModelFileBadForBothCheckpointsIsDataLoss) {
  // Round 2's model is the previous checkpoint's: with round 3's
  // checkpoint damaged too, no checkpoint is usable.
  std::string model = Slurp(store_->ModelPath(2));
  model[model.size() - 1] ^= 0x01;
  Overwrite(store_->ModelPath(2), model);
  fs::remove(store_->CheckpointPath());
  absl::StatusOr<std::unique_ptr<FileRunStore>> store =
      FileRunStore::Open(dir_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr("model file " + store_->ModelPath(2)));
  EXPECT_TRUE(fs::exists(store_->ModelPath(2)));
}

TEST_F(FallbackTest, TheLedgerAfterAFallbackCoversEveryReleasedRound) {
  fs::remove(store_->CheckpointPath());
  std::unique_ptr<FileRunStore> store = Reopen();
  ASSERT_NE(store, nullptr);
  const DpState dp = *store->LoadCheckpoint().value()->dp;
  // Released: rounds 1-3 (their lines and models were on disk). Redo of
  // round 3 adds one more charge: the ledger may over-count, never under.
  RdpAccountant charged;
  for (const DpState::Step& s : dp.ledger) {
    ASSERT_TRUE(charged
                    .AddSteps(s.sampling_rate, s.noise_multiplier,
                              static_cast<int>(s.count))
                    .ok());
  }
  RdpAccountant released;
  ASSERT_TRUE(released.AddSteps(kSamplingRate, kNoise, 3).ok());
  EXPECT_GE(charged.GetPrivacySpent(1e-5)->epsilon,
            released.GetPrivacySpent(1e-5)->epsilon);
  EXPECT_GT(released.GetPrivacySpent(1e-5)->epsilon, 0.0);
}

TEST_F(FallbackTest, AReleaseBeyondTheRecordedChargeRefusesToResume) {
  // A model file of round 5 on disk: a release the previous checkpoint's
  // successor (round 3) does not charge.
  ASSERT_TRUE(
      WriteFileAtomically(store_->ModelPath(5), Slurp(store_->ModelPath(3)))
          .ok());
  fs::remove(store_->CheckpointPath());
  const std::map<std::string, std::string> before = Snapshot(dir_);
  absl::StatusOr<std::unique_ptr<FileRunStore>> store =
      FileRunStore::Open(dir_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()),
              AllOf(HasSubstr("round 5 was released"),
                    HasSubstr("privacy spent is unknown")));
  EXPECT_EQ(Snapshot(dir_), before);
}

TEST_F(FallbackTest, ACheckpointWithoutChecksumsOpensWithAWarning) {
  nlohmann::json j = nlohmann::json::parse(Slurp(store_->CheckpointPath()));
  for (const char* key : {"checkpoint_sha256", "format", "model_sha256"}) {
    j.erase(key);
  }
  Overwrite(store_->CheckpointPath(), j.dump(2) + "\n");
  std::unique_ptr<FileRunStore> store = Reopen();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(Notes(*store), HasSubstr("carries no checksums"));
  EXPECT_EQ(store->LoadCheckpoint().value()->completed_round, 3u);
  ASSERT_TRUE(store->OnRoundCompleted(Summary(4, 3), MakeModel(4)).ok());
  // The next commit seals both checkpoints.
  for (const std::string& path :
       {store->CheckpointPath(), store->PreviousCheckpointPath()}) {
    absl::StatusOr<UnsealedCheckpoint> u = UnsealCheckpoint(Slurp(path), path);
    ASSERT_TRUE(u.ok()) << u.status();
    EXPECT_TRUE(u->sealed) << path;
    EXPECT_TRUE(u->body.contains("model_sha256")) << path;
  }
}

// Property: any change to any byte of any file a checkpoint names is found.
TEST_F(FallbackTest, EveryByteFlipInEachFileIsDetected) {
  std::mt19937 rng(20261201);
  int checked = 0;
  for (const std::string& path :
       {store_->CheckpointPath(), store_->ModelPath(3),
        store_->StrategyStatePath(3)}) {
    const std::string good = Slurp(path);
    for (size_t i = 0; i < good.size(); ++i) {
      std::string bad = good;
      bad[i] ^= static_cast<char>(1 + rng() % 255);
      Overwrite(path, bad);
      EXPECT_EQ(store_->LoadCheckpoint().status().code(),
                absl::StatusCode::kDataLoss)
          << path << " byte " << i;
      ++checked;
    }
    Overwrite(path, good);
    ASSERT_TRUE(store_->LoadCheckpoint().ok());
  }
  // Several flips at once, and every truncation, of both checkpoints.
  for (const std::string& path :
       {store_->CheckpointPath(), store_->PreviousCheckpointPath()}) {
    const std::string good = Slurp(path);
    for (int trial = 0; trial < 500; ++trial) {
      std::string bad = good;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
      }
      if (bad == good) continue;
      EXPECT_FALSE(UnsealCheckpoint(bad, path).ok()) << path << " " << trial;
      ++checked;
    }
    for (size_t n = 0; n < good.size(); ++n) {
      EXPECT_FALSE(UnsealCheckpoint(good.substr(0, n), path).ok()) << n;
      ++checked;
    }
  }
  std::printf("%d damaged files, all detected\n", checked);
}

// The same through Open for the previous checkpoint: with checkpoint.json
// gone, a damaged previous one is refused, never used.
TEST_F(FallbackTest, ADamagedPreviousCheckpointIsNeverUsed) {
  fs::remove(store_->CheckpointPath());
  const std::string good = Slurp(store_->PreviousCheckpointPath());
  std::mt19937 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    std::string bad = good;
    bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    Overwrite(store_->PreviousCheckpointPath(), bad);
    EXPECT_EQ(FileRunStore::Open(dir_).status().code(),
              absl::StatusCode::kDataLoss)
        << trial;
  }
}

// A disk that is full from the first write on.
ssize_t FullDiskWrite(int, const void*, size_t) {
  errno = ENOSPC;
  return -1;
}

TEST_F(FallbackTest, AFullDiskFailsOpenWithThePathAndErrnoAndChangesNothing) {
  // A torn last line Open would repair, and a round-3 checkpoint.
  std::ofstream(store_->MetricsPath(), std::ios::app) << "{\"round\": 4, \"r";
  const std::map<std::string, std::string> before = Snapshot(dir_);
  SetWriteSyscallForTesting(&FullDiskWrite);
  absl::StatusOr<std::unique_ptr<FileRunStore>> store =
      FileRunStore::Open(dir_);
  SetWriteSyscallForTesting(nullptr);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(store.status().message()),
              AllOf(HasSubstr("the state directory " + dir_ +
                              " is not "
                              "writable"),
                    HasSubstr("(ENOSPC, errno 28)"),
                    HasSubstr("its last good state is unchanged")));
  EXPECT_EQ(Snapshot(dir_), before);
  std::unique_ptr<FileRunStore> reopened = Reopen();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->LoadCheckpoint().value()->completed_round, 3u);
}

TEST(UnwritableStateDirectoryTest, APathUnderARegularFileFailsWithENOTDIR) {
  TempDir tmp;
  Overwrite(tmp.File("plain-file"), "not a directory");
  const std::string dir = tmp.File("plain-file") + "/state";
  absl::StatusOr<std::unique_ptr<FileRunStore>> store = FileRunStore::Open(dir);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(std::string(store.status().message()),
              AllOf(HasSubstr("cannot use the state directory " + dir),
                    HasSubstr("(ENOTDIR, errno 20)")));
  EXPECT_EQ(Slurp(tmp.File("plain-file")), "not a directory");
}

}  // namespace
}  // namespace fedlearn
