#include "server/audit/audit_log.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/audit/audit_test_util.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using testing_util::Lines;
using testing_util::Overwrite;
using testing_util::SampleEvent;
using testing_util::ScopedTempDir;
using testing_util::Slurp;
using testing_util::WriteLines;
using testing_util::WriteSampleLog;

AuditVerification VerifyOk(const std::string& path) {
  absl::StatusOr<AuditVerification> v = VerifyAuditLog(path, std::nullopt);
  EXPECT_TRUE(v.ok()) << v.status();
  if (!v.ok()) return {};
  EXPECT_TRUE(v->ok) << v->problem;
  return *v;
}

class AuditLogTest : public ::testing::Test {
 protected:
  ScopedTempDir dir_;
  const std::string path_ = dir_.File("audit.jsonl");
  FakeClock clock_;
};

TEST_F(AuditLogTest, ANewLogIsPrivateAndStartsAtTheGenesisHead) {
  absl::StatusOr<std::unique_ptr<AuditLog>> log =
      AuditLog::Open(path_, &clock_);
  ASSERT_TRUE(log.ok()) << log.status();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
  ASSERT_EQ(::stat(AuditHeadPath(path_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
  absl::StatusOr<std::optional<AuditHead>> head = ReadAuditHead(path_);
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->seq, 0u);
  EXPECT_EQ((*head)->hash, kAuditGenesisHash);
  EXPECT_EQ(VerifyOk(path_).entries, 0u);
}

TEST_F(AuditLogTest, EachRecordIsOnDiskWithItsHeadWhenRecordReturns) {
  auto log = AuditLog::Open(path_, &clock_);
  ASSERT_TRUE(log.ok());
  (*log)->Record(AuditEvent{"join", "site-a", {{"examples", 12}}});
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json entry = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(entry["seq"], 1);
  EXPECT_EQ(entry["event"], "join");
  EXPECT_EQ(entry["client"], "site-a");
  EXPECT_EQ(entry["details"]["examples"], 12);
  EXPECT_EQ(entry["time"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(entry["prev"], kAuditGenesisHash);
  auto head = ReadAuditHead(path_);
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->seq, 1u);
  EXPECT_EQ((*head)->hash, entry["hash"]);
  EXPECT_EQ((*log)->head().hash, entry["hash"]);
}

TEST_F(AuditLogTest, ReopeningContinuesTheChain) {
  const AuditHead first = WriteSampleLog(path_, 3);
  {
    auto log = AuditLog::Open(path_, &clock_);
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ((*log)->head().seq, 3u);
    EXPECT_EQ((*log)->head().hash, first.hash);
    (*log)->Record(SampleEvent(3));
    (*log)->Record(SampleEvent(4));
  }
  EXPECT_EQ(VerifyOk(path_).entries, 5u);
  EXPECT_EQ(nlohmann::json::parse(Lines(path_)[3])["prev"], first.hash);
}

TEST_F(AuditLogTest, OpeningATamperedLogRefusesAndLeavesItAlone) {
  WriteSampleLog(path_, 3);
  std::vector<std::string> lines = Lines(path_);
  lines[1].replace(lines[1].find("site-1"), 6, "site-9");
  WriteLines(path_, lines);
  const std::string tampered = Slurp(path_);
  auto log = AuditLog::Open(path_, &clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(log.status().message(), HasSubstr("broken at line 2"));
  EXPECT_THAT(log.status().message(), HasSubstr("fedlearn-audit verify"));
  EXPECT_EQ(Slurp(path_), tampered);
}

TEST_F(AuditLogTest, OpeningATruncatedOrDeletedLogRefuses) {
  WriteSampleLog(path_, 3);
  std::vector<std::string> lines = Lines(path_);
  lines.pop_back();
  WriteLines(path_, lines);
  auto log = AuditLog::Open(path_, &clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.status().message(), HasSubstr("broken at line 3"));

  std::filesystem::remove(path_);
  log = AuditLog::Open(path_, &clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.status().message(), HasSubstr("the log is missing"));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(AuditLogTest, OpeningALogWithoutItsHeadRefuses) {
  WriteSampleLog(path_, 2);
  std::filesystem::remove(AuditHeadPath(path_));
  auto log = AuditLog::Open(path_, &clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.status().message(), HasSubstr(".head is missing"));
}

TEST_F(AuditLogTest, ATornFinalLineFromACrashIsCutOffAndRecorded) {
  WriteSampleLog(path_, 2);
  // A crash in the middle of writing entry 3: part of a line, no newline,
  // and the head still names entry 2.
  std::string hash;
  const std::string next =
      MakeAuditLine(3, 0, SampleEvent(2), std::string(64, 'a'), &hash);
  Overwrite(path_, Slurp(path_) + next.substr(0, 40));
  {
    auto log = AuditLog::Open(path_, &clock_);
    ASSERT_TRUE(log.ok()) << log.status();
  }
  const AuditVerification v = VerifyOk(path_);
  EXPECT_EQ(v.entries, 3u);
  const nlohmann::json repaired = nlohmann::json::parse(Lines(path_)[2]);
  EXPECT_EQ(repaired["event"], "audit_log_repaired");
  EXPECT_EQ(repaired["details"]["torn_line"], 3);
  EXPECT_EQ(repaired["details"]["dropped_bytes"], 40);
}

TEST_F(AuditLogTest, AnAcknowledgedFinalLineWithoutItsNewlineIsNotRepaired) {
  WriteSampleLog(path_, 2);
  const std::string content = Slurp(path_);
  Overwrite(path_, content.substr(0, content.size() - 1));
  auto log = AuditLog::Open(path_, &clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.status().message(), HasSubstr("broken at line 2"));
}

TEST_F(AuditLogTest, ConcurrentRecordsFormOneValidChain) {
  auto log = AuditLog::Open(path_, &clock_);
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) (*log)->Record(SampleEvent(t * 100 + i));
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE((*log)->healthy());
  EXPECT_EQ(VerifyOk(path_).entries, static_cast<uint64_t>(kThreads * kEach));
}

// RLIMIT_FSIZE makes the next append fail part-way (EFBIG), as a full disk
// would.
TEST_F(AuditLogTest, AFailedWriteTurnsTheLogUnhealthyAndKeepsItsChainValid) {
  auto log = AuditLog::Open(path_, &clock_);
  ASSERT_TRUE(log.ok());
  (*log)->Record(SampleEvent(0));
  (*log)->Record(SampleEvent(1));
  ASSERT_TRUE((*log)->healthy());
  const uintmax_t size = std::filesystem::file_size(path_);

  struct rlimit old_limit {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  sighandler_t old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = size + 20;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  (*log)->Record(SampleEvent(2));
  setrlimit(RLIMIT_FSIZE, &old_limit);
  signal(SIGXFSZ, old_handler);

  EXPECT_FALSE((*log)->healthy());
  EXPECT_EQ((*log)->status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(std::filesystem::file_size(path_), size) << "partial line kept";
  (*log)->Record(SampleEvent(3));  // refused: the log stays unhealthy
  EXPECT_EQ(std::filesystem::file_size(path_), size);
  EXPECT_EQ(VerifyOk(path_).entries, 2u);
}

}  // namespace
}  // namespace fedlearn
