// The safetensors reader against a file written by an independent writer
// (write_safetensors.py: Python's struct/json and numpy, following the
// format's specification; Debian ships no safetensors package), and against
// malformed files built here byte by byte.
#include "common/wire/safetensors_reader.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Runs the independent writer; the file it leaves at `path`.
void RunWriter(const std::string& args) {
  const std::string command = std::string("/usr/bin/python3 ") +
                              FEDLEARN_SOURCE_DIR +
                              "/tests/common/wire/write_safetensors.py " + args;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

TEST(SafetensorsReaderTest, ReadsEveryDtypeTheIndependentWriterWrote) {
  testing_util::ScopedTempDir dir;
  const std::string path = dir.path() + "/known.safetensors";
  RunWriter("known " + path);
  absl::StatusOr<std::vector<NamedTensor>> read = ReadSafetensorsFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 6u);
  const std::vector<NamedTensor>& t = *read;
  // Header order; values from the writer's known() (exact in float32).
  EXPECT_EQ(t[0].name, "a");
  EXPECT_EQ(t[0].dtype, "F32");
  EXPECT_THAT(t[0].shape, ElementsAre(2, 3));
  EXPECT_THAT(t[0].values,
              ElementsAre(-0.5f, -0.25f, 0.0f, 0.25f, 0.5f, 0.75f));
  EXPECT_EQ(t[1].dtype, "F64");
  EXPECT_THAT(t[1].values, ElementsAre(static_cast<float>(1.0 / 3), -2.5f,
                                       static_cast<float>(1e-3)));
  EXPECT_EQ(t[2].dtype, "F16");
  EXPECT_THAT(t[2].values,
              ElementsAre(0.5f, -1.25f, 65504.0f, 5.9604644775390625e-08f));
  EXPECT_EQ(t[3].dtype, "BF16");
  EXPECT_THAT(t[3].values, ElementsAre(1.5f, -3.0f));
  EXPECT_EQ(t[4].name, "e");
  EXPECT_EQ(t[4].dtype, "I64");
  EXPECT_FALSE(t[4].convertible);
  EXPECT_TRUE(t[4].values.empty());
  EXPECT_EQ(t[5].name, "s");
  EXPECT_TRUE(t[5].shape.empty());
  EXPECT_THAT(t[5].values, ElementsAre(2.0f));
}

// A file of `header` (JSON text) and `buffer`; `claimed` overrides N.
std::string File(const std::string& header, const std::string& buffer,
                 int64_t claimed = -1) {
  const uint64_t n = claimed < 0 ? header.size() : uint64_t(claimed);
  std::string out;
  for (int b = 0; b < 8; ++b) out.push_back(char((n >> (8 * b)) & 0xff));
  return out + header + buffer;
}

absl::Status Parse(const std::string& bytes) {
  return ParseSafetensors(bytes, "test.safetensors").status();
}

const std::string kEight(8, '\0');

TEST(SafetensorsReaderTest, AcceptsAWellFormedHandBuiltFile) {
  EXPECT_TRUE(Parse(File(R"({"x":{"dtype":"F32","shape":[2],)"
                         R"("data_offsets":[0,8]}}  )",
                         kEight))
                  .ok());
}

TEST(SafetensorsReaderTest, RefusesMalformedFiles) {
  const std::string x = R"("x":{"dtype":"F32","shape":[2],"data_offsets":)";
  struct Case {
    std::string bytes;
    std::string why;
  } cases[] = {
      {"short", "shorter than 8 bytes"},
      {File("{}", "", 100), "exceeds the file"},
      {File("{}", "", int64_t{100'000'001}), "exceeds 100000000"},
      {File("[]", ""), "start with '{'"},
      {File("{\"x\":", ""), "not valid JSON"},
      {File("{" + x + "[0,8]}," + x + "[0,8]}}", kEight), "twice"},
      {File("{" + x + "[0,8]},\"y\":" + x.substr(4) + "[4,12]}}",
            std::string(12, '\0')),
       "overlapping"},
      {File("{" + x + "[4,12]}}", std::string(12, '\0')), "a hole"},
      {File("{" + x + "[0,8]}}", std::string(12, '\0')), "cover 8 bytes"},
      {File("{" + x + "[0,6]}}", kEight), "do not hold 2 values"},
      {File("{" + x + "[8,0]}}", kEight), "do not hold"},
      {File(R"({"x":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}})",
            kEight),
       "unknown dtype"},
      {File(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
            kEight),
       "not a size"},
      {File(R"({"x":{"dtype":"F32","shape":[2]}})", kEight), "needs exactly"},
      {File(R"({"__metadata__":{"k":1}})", ""), "is not a string"},
      {File(R"({"x":[1]})", ""), "needs exactly"},
  };
  for (const Case& c : cases) {
    const absl::Status s = Parse(c.bytes);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << c.why;
    EXPECT_THAT(s.message(), HasSubstr(c.why));
    EXPECT_THAT(s.message(), HasSubstr("test.safetensors"));
  }
}

// Regression: the error message dumped the dtype value, and nlohmann's
// dump() recurses, so a dtype nested 500,000 deep (a 1 MB header, well
// within the format's bound) overflowed the stack.
TEST(SafetensorsReaderTest, RefusesADeeplyNestedDtypeWithoutRecursing) {
  const int depth = 500'000;
  const std::string dtype = std::string(depth, '[') + std::string(depth, ']');
  const absl::Status s = Parse(File(
      R"({"x":{"dtype":)" + dtype + R"(,"shape":[],"data_offsets":[0,0]}})",
      ""));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("unknown dtype (a JSON array)"));
}

TEST(SafetensorsReaderTest, EveryTruncationOfTheWritersFileIsRefused) {
  testing_util::ScopedTempDir dir;
  const std::string path = dir.path() + "/known.safetensors";
  RunWriter("known " + path);
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  ASSERT_TRUE(bytes.ok());
  for (size_t len = 0; len < bytes->size(); ++len) {
    EXPECT_FALSE(Parse(bytes->substr(0, len)).ok()) << len;
  }
  EXPECT_TRUE(Parse(*bytes).ok());
}

}  // namespace
}  // namespace fedlearn
