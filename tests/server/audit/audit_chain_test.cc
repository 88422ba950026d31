#include "server/audit/audit_chain.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
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
using testing_util::PatchByte;
using testing_util::ScopedTempDir;
using testing_util::Slurp;
using testing_util::WriteLines;
using testing_util::WriteSampleLog;

// Expected hashes computed outside the code under test, with coreutils:
//   printf '%s' '<canonical JSON without "hash">' | sha256sum
constexpr char kJoinHash[] =
    "ac78905c338f3b80a0bdf2ba0a821f5932af10d25bae924c17e00b37f6e271e2";
constexpr char kCafeHash[] =
    "f96d2065626351424b70ee669483ad1eaf8f91d16ce506573e29d7426c75c8e0";

TEST(AuditChainTest, EntryHashIsSha256OfItsCanonicalJsonWithoutTheHash) {
  std::string hash;
  const std::string line = MakeAuditLine(
      1, 1'700'000'000'000, AuditEvent{"join", "site-a", {{"n", 3}}},
      kAuditGenesisHash, &hash);
  EXPECT_EQ(hash, kJoinHash);
  EXPECT_EQ(line, std::string("{\"client\":\"site-a\",\"details\":{\"n\":3},"
                              "\"event\":\"join\",\"hash\":\"") +
                      kJoinHash + "\",\"prev\":\"" + kAuditGenesisHash +
                      "\",\"seq\":1,\"time\":\"2023-11-14T22:13:20.000Z\"}");
}

TEST(AuditChainTest, CanonicalJsonIsAsciiWithSortedKeys) {
  std::string hash;
  MakeAuditLine(1, 0, AuditEvent{"e", "x", {{"note", "caf\xc3\xa9"}}},
                kAuditGenesisHash, &hash);
  EXPECT_EQ(hash, kCafeHash);
  const nlohmann::json odd = {{"z", std::numeric_limits<double>::quiet_NaN()},
                              {"a", std::string("bad \xff utf8")}};
  EXPECT_EQ(CanonicalAuditJson(odd), "{\"a\":\"bad \\ufffd utf8\",\"z\":null}");
}

TEST(AuditChainTest, TimesAreRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(Rfc3339UtcMillis(1'700'000'000'123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(Rfc3339UtcMillis(0), "1970-01-01T00:00:00.000Z");
}

class AuditVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override { head_ = WriteSampleLog(path_, 5); }

  AuditVerification Verify(std::optional<AuditHead> expected = std::nullopt,
                           bool seq_known = true) {
    absl::StatusOr<AuditVerification> v =
        VerifyAuditLog(path_, expected, seq_known);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : AuditVerification{};
  }

  ScopedTempDir dir_;
  const std::string path_ = dir_.File("audit.jsonl");
  AuditHead head_;
};

TEST_F(AuditVerifyTest, AnUntouchedLogVerifies) {
  const AuditVerification v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.entries, 5u);
  EXPECT_EQ(v.head.seq, head_.seq);
  EXPECT_EQ(v.head.hash, head_.hash);
}

TEST_F(AuditVerifyTest, EditingAnyByteIsDetectedAtItsLine) {
  const std::string original = Slurp(path_);
  uint64_t line = 1;
  for (size_t i = 0; i < original.size(); ++i) {
    PatchByte(path_, i, static_cast<char>(original[i] ^ 0x01));
    const AuditVerification v = Verify();
    PatchByte(path_, i, original[i]);
    EXPECT_FALSE(v.ok) << "byte " << i << " edited undetected";
    EXPECT_EQ(v.first_bad_line, line) << "byte " << i << ": " << v.problem;
    if (original[i] == '\n') ++line;
  }
  EXPECT_EQ(Slurp(path_), original);
}

TEST_F(AuditVerifyTest, DeletingAMiddleLineIsDetectedWhereItWas) {
  std::vector<std::string> lines = Lines(path_);
  lines.erase(lines.begin() + 2);
  WriteLines(path_, lines);
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_line, 3u);
  EXPECT_THAT(v.problem, HasSubstr("seq is 4, expected 3"));
  EXPECT_EQ(v.entries, 2u);
}

TEST_F(AuditVerifyTest, ReorderingLinesIsDetected) {
  std::vector<std::string> lines = Lines(path_);
  std::swap(lines[1], lines[3]);
  WriteLines(path_, lines);
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_line, 2u);
}

TEST_F(AuditVerifyTest, TruncatingTheTailIsDetectedThroughTheHead) {
  std::vector<std::string> lines = Lines(path_);
  lines.resize(3);
  WriteLines(path_, lines);
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_line, 4u);
  EXPECT_THAT(v.problem, HasSubstr("lines 4..5 are missing"));

  Overwrite(path_, "");
  EXPECT_EQ(Verify().first_bad_line, 1u);
}

TEST_F(AuditVerifyTest, CuttingTheFinalNewlineIsDetected) {
  const std::string content = Slurp(path_);
  Overwrite(path_, content.substr(0, content.size() - 1));
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_line, 5u);
  EXPECT_THAT(v.problem, HasSubstr("incomplete"));
}

TEST_F(AuditVerifyTest, ATailCutAndRewrittenWithoutTheHeadIsDetected) {
  std::vector<std::string> lines = Lines(path_);
  lines.resize(3);
  std::string prev = nlohmann::json::parse(lines[2])["hash"];
  for (uint64_t seq = 4; seq <= 5; ++seq) {
    lines.push_back(MakeAuditLine(
        seq, 0, AuditEvent{"round_released", "", {{"forged", true}}}, prev,
        &prev));
  }
  WriteLines(path_, lines);
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_line, 5u);
  EXPECT_THAT(v.problem, HasSubstr("not the one"));
}

TEST_F(AuditVerifyTest, AMissingHeadSidecarFails) {
  std::filesystem::remove(AuditHeadPath(path_));
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_THAT(v.problem, HasSubstr(".head is missing"));
}

TEST_F(AuditVerifyTest, AHeadOneEntryBehindIsTheCrashWindowNotTampering) {
  std::vector<std::string> lines = Lines(path_);
  const auto hash_of = [&](int line) {
    return nlohmann::json::parse(lines[line - 1])["hash"].get<std::string>();
  };
  ASSERT_TRUE(WriteAuditHead(path_, AuditHead{4, hash_of(4)}).ok());
  AuditVerification v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_THAT(v.notes, ::testing::Contains(HasSubstr("one entry behind")));

  ASSERT_TRUE(WriteAuditHead(path_, AuditHead{3, hash_of(3)}).ok());
  v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_line, 5u);
}

TEST_F(AuditVerifyTest, AnExpectedHeadPinsTheHistoryUpToIt) {
  const std::vector<std::string> lines = Lines(path_);
  const AuditHead third{3, nlohmann::json::parse(lines[2])["hash"]};
  EXPECT_TRUE(Verify(third).ok);
  EXPECT_TRUE(Verify(AuditHead{0, third.hash}, /*seq_known=*/false).ok);

  // Someone who rewrites the whole log and its sidecar consistently passes
  // the sidecar check, but not a head recorded elsewhere.
  ScopedTempDir other;
  const std::string forged = other.File("audit.jsonl");
  WriteSampleLog(forged, 5, /*first=*/100);
  std::filesystem::copy_file(forged, path_,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(AuditHeadPath(forged), AuditHeadPath(path_),
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_TRUE(Verify().ok);
  AuditVerification v = Verify(third);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_line, 3u);
  v = Verify(AuditHead{0, third.hash}, /*seq_known=*/false);
  EXPECT_FALSE(v.ok);
  EXPECT_THAT(v.problem, HasSubstr("no entry has the expected hash"));
}

TEST(AuditHeadArgumentTest, AcceptsSeqAndHashOrHashAlone) {
  bool seq_known = false;
  absl::StatusOr<AuditHead> head = ParseAuditHeadArgument(
      std::string("7:") +
          "AC78905C338F3B80A0BDF2BA0A821F5932AF10D25BAE924C17"
          "E00B37F6E271E2",
      &seq_known);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_TRUE(seq_known);
  EXPECT_EQ(head->seq, 7u);
  EXPECT_EQ(head->hash, kJoinHash);
  head = ParseAuditHeadArgument(kJoinHash, &seq_known);
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(seq_known);
  EXPECT_FALSE(
      ParseAuditHeadArgument("x:" + std::string(kJoinHash), &seq_known).ok());
  EXPECT_FALSE(ParseAuditHeadArgument("abc", &seq_known).ok());
}

TEST(AuditVerifyMissingTest, AMissingLogIsNotFound) {
  ScopedTempDir dir;
  EXPECT_EQ(
      VerifyAuditLog(dir.File("nope.jsonl"), std::nullopt).status().code(),
      absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fedlearn
