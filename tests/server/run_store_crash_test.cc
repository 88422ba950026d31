// Crash injection for FileRunStore (issue 13, defects 1-3): a crash or a
// failed write at every step of a round's write sequence, then a fresh
// store on the same directory, as a restarted coordinator would open it.
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/util/atomic_file.h"
#include "common/wire/model_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/run_store.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr uint64_t kRounds = 4;
constexpr double kEpsilonPerRound = 0.25;  // the fake accountant's cost

// Fresh per test; in /dev/shm when there is one (fsync on a disk would
// dominate the time, and the faults here are emulated).
struct TempDir : testing_util::ScopedTempDir {
  TempDir() : ScopedTempDir(kPreferRam) {}
};

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

// Round `round` as incarnation `life` of the coordinator computes it: a redo
// gives another model and attempt, as a real redo would.
RoundSummary Summary(uint64_t round, int life, bool dp) {
  RoundSummary s;
  s.run_id = "crash-run";
  s.round = round;
  s.attempt = life + 1;
  s.model_version = round;
  s.participants = 3;
  if (dp) {
    RoundSummary::Dp d;
    d.mode = "central";
    d.epsilon = kEpsilonPerRound * static_cast<double>(round);
    d.delta = 1e-5;
    d.state.clip_norm = 1.0;
    d.state.ledger = {{0.1, 1.1, static_cast<int64_t>(round)}};
    s.dp = d;
    auto opt = std::make_shared<ServerOptimizerState>();
    opt->optimizer = "fedavgm";
    opt->steps = round;
    opt->m = {static_cast<float>(round), static_cast<float>(life)};
    s.strategy_state = opt;
  }
  return s;
}

std::vector<nlohmann::json> MetricsLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    out.push_back(nlohmann::json::parse(line));  // throws on a torn line
  }
  return out;
}

std::vector<std::string> Leftovers(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp.") != std::string::npos ||
        name.find(".staged") != std::string::npos) {
      out.push_back(e.path().string());
    }
  }
  return out;
}

std::string Slurp(const std::string& path) {
  absl::StatusOr<std::string> s = ReadFileToString(path);
  return s.ok() ? *s : std::string("<missing>");
}

struct CrashPoint {
  uint64_t round;
  StoreStep step;
  bool torn;               // the step was half done (the residue a kill leaves)
  bool crash_in_recovery;  // the restarted coordinator dies in Open too
};

// What a killed writer leaves of `step` half done.
void LeaveResidue(StoreStep step, const std::string& path,
                  std::string_view bytes) {
  if (step == StoreStep::kAppendMetrics) {
    std::ofstream(path, std::ios::app) << bytes.substr(0, bytes.size() / 2);
  } else if (step != StoreStep::kPublishModel) {  // a rename is atomic
    std::ofstream(path + ".tmp.99999.7") << "{\"run_id\": \"crash-r";
  }
}

// Runs kRounds rounds through store incarnations that crash at `crash`
// (once, and once more in Open when asked), and checks the directory.
void RunThroughCrash(const CrashPoint& crash, bool dp, int* recoveries) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/state";
  uint64_t current_round = 0;
  bool crashed = false;
  bool armed_in_open = false;
  FileRunStoreOptions hook;
  hook.before_step_for_testing = [&](StoreStep step, const std::string& path,
                                     std::string_view bytes) {
    const bool in_round =
        !crashed && current_round == crash.round && step == crash.step;
    if (!in_round && !armed_in_open) return absl::OkStatus();
    if (crash.torn) LeaveResidue(step, path, bytes);
    crashed = true;
    armed_in_open = false;
    return absl::UnavailableError("killed");
  };
  std::map<uint64_t, std::string> committed_model;  // bytes once committed
  std::map<uint64_t, int> committed_attempt;
  int last_writer = 0;  // the incarnation that last wrote a round
  for (int life = 0; life < 4; ++life) {
    const bool crash_now = crashed && crash.crash_in_recovery && life == 1;
    armed_in_open = crash_now;
    absl::StatusOr<std::unique_ptr<FileRunStore>> store =
        FileRunStore::Open(dir, hook);
    if (crash_now) {
      armed_in_open = false;
      if (!store.ok()) {
        ++*recoveries;
        continue;  // killed during the repair: restart once more
      }
    }
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<std::optional<RunCheckpoint>> cp =
        (*store)->LoadCheckpoint();
    ASSERT_TRUE(cp.ok()) << cp.status();
    uint64_t next = 1;
    if (!cp->has_value()) {
      current_round = 0;
      if (!(*store)->SaveInitialModel("crash-run", MakeModel(7)).ok()) continue;
    } else {
      next = (*cp)->completed_round + 1;
    }
    // Rounds committed by a crashed incarnation: their files now stand.
    for (uint64_t r = 1; r < next; ++r) {
      if (!committed_model.count(r)) {
        committed_model[r] = Slurp((*store)->ModelPath(r));
        committed_attempt[r] = last_writer + 1;
      }
      ASSERT_EQ(Slurp((*store)->ModelPath(r)), committed_model[r])
          << "round " << r << " was committed, then its model replaced";
    }
    bool died = false;
    last_writer = life;
    for (uint64_t r = next; r <= kRounds && !died; ++r) {
      current_round = r;
      const absl::Status s = (*store)->OnRoundCompleted(
          Summary(r, life, dp), MakeModel(100 * life + r));
      died = !s.ok();
      if (!died) {
        committed_model[r] = Slurp((*store)->ModelPath(r));
        committed_attempt[r] = life + 1;
      }
    }
    if (!died) break;
  }
  EXPECT_TRUE(crashed) << "the crash point was never reached";
  // The restarted store holds exactly rounds 1..kRounds, once each.
  absl::StatusOr<std::unique_ptr<FileRunStore>> store = FileRunStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->recovery_notes().empty());
  absl::StatusOr<std::optional<RunCheckpoint>> cp = (*store)->LoadCheckpoint();
  ASSERT_TRUE(cp.ok() && cp->has_value());
  EXPECT_EQ((*cp)->completed_round, kRounds);
  const std::vector<nlohmann::json> lines =
      MetricsLines((*store)->MetricsPath());
  ASSERT_EQ(lines.size(), kRounds) << Slurp((*store)->MetricsPath());
  for (uint64_t r = 1; r <= kRounds; ++r) {
    const nlohmann::json& line = lines[r - 1];
    EXPECT_EQ(line["round"], r);
    // The line is the committed release's, never a redo's.
    EXPECT_EQ(line["attempt"], committed_attempt[r]) << "round " << r;
    EXPECT_EQ(Slurp((*store)->ModelPath(r)), committed_model[r]) << r;
    if (dp) {
      EXPECT_DOUBLE_EQ(line["dp"]["epsilon"].get<double>(),
                       kEpsilonPerRound * static_cast<double>(r));
    }
  }
  if (dp) {
    // The ledger charged each released round once: ε = Σ released costs.
    ASSERT_TRUE((*cp)->dp.has_value());
    ASSERT_EQ((*cp)->dp->ledger.size(), 1u);
    EXPECT_EQ((*cp)->dp->ledger[0].count, static_cast<int64_t>(lines.size()));
    EXPECT_DOUBLE_EQ(lines.back()["dp"]["epsilon"].get<double>(),
                     kEpsilonPerRound * static_cast<double>(lines.size()));
    ASSERT_TRUE((*cp)->strategy.has_value());
    EXPECT_EQ((*cp)->strategy->steps, kRounds);
  }
  EXPECT_THAT(Leftovers(dir), ::testing::IsEmpty());
}

std::vector<CrashPoint> AllCrashPoints(bool dp) {
  std::vector<CrashPoint> points;
  std::vector<StoreStep> steps = {
      StoreStep::kStageModel, StoreStep::kWritePreviousCheckpoint,
      StoreStep::kWriteCheckpoint, StoreStep::kPublishModel,
      StoreStep::kAppendMetrics};
  if (dp) steps.insert(steps.begin() + 1, StoreStep::kWriteStrategy);
  for (uint64_t round = 0; round <= kRounds; ++round) {
    for (StoreStep step : steps) {
      if (round == 0 && (step == StoreStep::kWriteStrategy ||
                         step == StoreStep::kWritePreviousCheckpoint ||
                         step == StoreStep::kAppendMetrics)) {
        continue;  // round 0 (the initial model) has none of these
      }
      for (bool torn : {false, true}) {
        for (bool again : {false, true}) {
          points.push_back({round, step, torn, again});
        }
      }
    }
  }
  return points;
}

class CrashAtEveryStepTest : public ::testing::TestWithParam<bool> {};

TEST_P(CrashAtEveryStepTest, ResumeHasEachReleasedRoundOnceAndItsModelKept) {
  const bool dp = GetParam();
  int recoveries = 0;
  const std::vector<CrashPoint> points = AllCrashPoints(dp);
  for (const CrashPoint& p : points) {
    SCOPED_TRACE(testing::Message()
                 << "crash in round " << p.round << " at "
                 << StoreStepName(p.step) << (p.torn ? " (half done)" : "")
                 << (p.crash_in_recovery ? ", again in the repair" : ""));
    RunThroughCrash(p, dp, &recoveries);
    if (HasFatalFailure()) return;
  }
  std::printf("%s: %zu crash points, %d of them also killed the repair\n",
              dp ? "dp+fedavgm" : "fedavg", points.size(), recoveries);
}

INSTANTIATE_TEST_SUITE_P(DpAndPlain, CrashAtEveryStepTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? std::string("Dp")
                                             : std::string("Plain");
                         });

// A disk that fills up after `writes_until_full` more write(2) calls: that
// call writes half its bytes (what still fitted), later ones fail ENOSPC.
int writes_until_full = -1;  // < 0: the disk never fills
bool disk_full = false;
ssize_t FillingDiskWrite(int fd, const void* buf, size_t n) {
  if (!disk_full && (writes_until_full < 0 || writes_until_full-- > 0)) {
    return ::write(fd, buf, n);
  }
  if (!disk_full) {
    disk_full = true;
    if (n > 1) return ::write(fd, buf, n / 2);
  }
  errno = ENOSPC;
  return -1;
}

class FullDiskTest : public ::testing::Test {
 protected:
  void TearDown() override {
    SetWriteSyscallForTesting(nullptr);
    writes_until_full = -1;
    disk_full = false;
  }
};

TEST_F(FullDiskTest, AFullDiskAtAnyWriteLeavesTheLastGoodStateAndNoTornLine) {
  int failures = 0;
  for (int k = 0;; ++k) {
    SCOPED_TRACE(testing::Message() << "disk full at write " << k);
    TempDir tmp;
    const std::string dir = tmp.path() + "/state";
    absl::StatusOr<std::unique_ptr<FileRunStore>> store =
        FileRunStore::Open(dir);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->SaveInitialModel("crash-run", MakeModel(7)).ok());
    for (uint64_t r = 1; r <= 2; ++r) {
      ASSERT_TRUE(
          (*store)->OnRoundCompleted(Summary(r, 0, true), MakeModel(r)).ok());
    }
    const std::string metrics_before = Slurp((*store)->MetricsPath());
    writes_until_full = k;
    SetWriteSyscallForTesting(&FillingDiskWrite);
    const absl::Status s =
        (*store)->OnRoundCompleted(Summary(3, 0, true), MakeModel(3));
    SetWriteSyscallForTesting(nullptr);
    const bool filled = disk_full;
    writes_until_full = -1;
    disk_full = false;
    if (s.ok()) break;  // every write of the round has been failed once
    ++failures;
    ASSERT_TRUE(filled) << s;
    // A clear error that names the file, and nothing torn or left over.
    EXPECT_THAT(std::string(s.message()), HasSubstr(dir)) << s;
    EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
    EXPECT_EQ(Slurp((*store)->MetricsPath()), metrics_before);
    EXPECT_THAT(Leftovers(dir), ::testing::IsEmpty()) << s;
    // A restarted store resumes at the last committed round, complete.
    absl::StatusOr<std::unique_ptr<FileRunStore>> again =
        FileRunStore::Open(dir);
    ASSERT_TRUE(again.ok()) << again.status();
    absl::StatusOr<std::optional<RunCheckpoint>> cp =
        (*again)->LoadCheckpoint();
    ASSERT_TRUE(cp.ok() && cp->has_value()) << cp.status();
    const uint64_t done = (*cp)->completed_round;
    ASSERT_TRUE(done == 2 || done == 3) << done;
    if (done == 2) {
      ASSERT_TRUE(
          (*again)->OnRoundCompleted(Summary(3, 1, true), MakeModel(33)).ok());
    }
    const std::vector<nlohmann::json> lines =
        MetricsLines((*again)->MetricsPath());
    ASSERT_EQ(lines.size(), 3u);
    for (uint64_t r = 1; r <= 3; ++r) EXPECT_EQ(lines[r - 1]["round"], r);
    EXPECT_EQ((*again)->LoadCheckpoint().value()->dp->ledger[0].count, 3);
  }
  // Stage model, optimizer state, checkpoint (a write each) and the line.
  EXPECT_GE(failures, 4);
  std::printf("%d write failure points exercised\n", failures);
}

class RepairOnOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FileRunStore>> store =
        FileRunStore::Open(dir_);
    ASSERT_TRUE(store.ok());
    store_ = *std::move(store);
    ASSERT_TRUE(store_->SaveInitialModel("crash-run", MakeModel(7)).ok());
    for (uint64_t r = 1; r <= 2; ++r) {
      ASSERT_TRUE(
          store_->OnRoundCompleted(Summary(r, 0, false), MakeModel(r)).ok());
    }
  }
  std::unique_ptr<FileRunStore> Reopen() {
    absl::StatusOr<std::unique_ptr<FileRunStore>> store =
        FileRunStore::Open(dir_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  TempDir tmp_;
  const std::string dir_ = tmp_.path() + "/state";
  std::unique_ptr<FileRunStore> store_;
};

TEST_F(RepairOnOpenTest, ATornLastMetricsLineIsCutWithANote) {
  std::ofstream(store_->MetricsPath(), std::ios::app) << "{\"round\": 3, \"ru";
  std::unique_ptr<FileRunStore> store = Reopen();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(MetricsLines(store->MetricsPath()).size(), 2u);
  ASSERT_EQ(store->recovery_notes().size(), 1u);
  EXPECT_THAT(store->recovery_notes()[0], HasSubstr("torn last line"));
}

// What the earlier write order (model, metrics line, then checkpoint) left
// when killed before the checkpoint: round 3's model and line, uncommitted.
TEST_F(RepairOnOpenTest, AnEarlierVersionsUncommittedRoundIsRemovedAndRedone) {
  ASSERT_TRUE(WriteModelFile(store_->ModelPath(3), {}, MakeModel(3)).ok());
  ASSERT_TRUE(AppendLineDurably(store_->MetricsPath(),
                                RoundSummaryToJson(Summary(3, 0, false), 1))
                  .ok());
  std::unique_ptr<FileRunStore> store = Reopen();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(fs::exists(store->ModelPath(3)));
  EXPECT_EQ(MetricsLines(store->MetricsPath()).size(), 2u);
  EXPECT_EQ(store->recovery_notes().size(), 2u);
  ASSERT_TRUE(
      store->OnRoundCompleted(Summary(3, 1, false), MakeModel(33)).ok());
  const std::vector<nlohmann::json> lines = MetricsLines(store->MetricsPath());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2]["attempt"], 2);
}

TEST_F(RepairOnOpenTest, OnlyTheAtomicWritersStaleTemporariesAreRemoved) {
  const std::string stale = store_->CheckpointPath() + ".tmp.4242.3";
  const std::string model_stale = store_->ModelPath(3) + ".tmp.17.0";
  const std::string kept = dir_ + "/checkpoint.json.tmp.notes";
  for (const std::string& p : {stale, model_stale, kept}) {
    std::ofstream(p) << "partial";
  }
  std::unique_ptr<FileRunStore> store = Reopen();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_FALSE(fs::exists(model_stale));
  EXPECT_TRUE(fs::exists(kept));
  EXPECT_EQ(store->recovery_notes().size(), 2u);
}

TEST_F(RepairOnOpenTest, ACorruptMetricsLineBeforeTheLastRefusesToOpen) {
  std::string text = Slurp(store_->MetricsPath());
  text[1] = '#';
  ASSERT_TRUE(WriteFileAtomically(store_->MetricsPath(), text).ok());
  absl::StatusOr<std::unique_ptr<FileRunStore>> store =
      FileRunStore::Open(dir_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("line 1"));
}

}  // namespace
}  // namespace fedlearn
