#include "server/upload_assembler.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/float_bytes.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using testing_util::FloatBytes;

v1::UpdateHeader Header(uint64_t num_values, bool masked = false,
                        uint32_t width = 0) {
  v1::UpdateHeader header;
  header.mutable_ref()->set_run_id("r");
  header.mutable_ref()->set_round(3);
  header.mutable_ref()->set_model_version(2);
  header.set_num_examples(7);
  header.set_num_values(num_values);
  header.set_masked(masked);
  header.set_masked_value_bytes(width);
  return header;
}

v1::ResultChunk Data(std::string bytes) {
  v1::ResultChunk chunk;
  chunk.set_update_data(std::move(bytes));
  return chunk;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(UploadAssemblerTest, ChunksAssembleIntoTheSubmission) {
  ASSERT_TRUE(UploadAssembler::CheckHeader(Header(3), 3, 0, 4).ok());
  UploadAssembler a = UploadAssembler::ForUpdate(Header(3), 3, 10);
  ASSERT_TRUE(a.Feed(Data(FloatBytes({1.5f, 2.5f}))).ok());
  EXPECT_FALSE(a.CheckComplete().ok());
  ASSERT_TRUE(a.Feed(Data(FloatBytes({-1.0f}))).ok());
  ASSERT_TRUE(a.CheckComplete().ok());
  UpdateSubmission s = a.TakeUpdate();
  EXPECT_EQ(s.run_id, "r");
  EXPECT_EQ(s.round, 3u);
  EXPECT_EQ(s.model_version, 2u);
  EXPECT_EQ(s.num_examples, 7u);
  ASSERT_EQ(s.delta.size(), 3u);
  EXPECT_FLOAT_EQ(s.delta[0], 1.5f);
  EXPECT_FLOAT_EQ(s.delta[2], -1.0f);
}

TEST(UploadAssemblerTest, ThreeByteChunkIsNotAWholeNumberOfFloats) {
  UploadAssembler a = UploadAssembler::ForUpdate(Header(10), 10, 10);
  absl::Status s = a.Feed(Data("abc"));
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(Message(s),
              HasSubstr("3 bytes is not a whole number of 4-byte float32"));
  EXPECT_THAT(Message(s), ::testing::Not(HasSubstr("overflows")));
}

TEST(UploadAssemblerTest, ThreeByteMaskedChunkNamesTheMaskedWidth) {
  ASSERT_TRUE(UploadAssembler::CheckHeader(Header(4, true, 2), 99, 4, 2).ok());
  UploadAssembler a =
      UploadAssembler::ForMaskedInput(Header(4, true, 2), 4, 2, 10);
  absl::Status s = a.Feed(Data("abc"));
  EXPECT_THAT(Message(s), HasSubstr("not a whole number of 2-byte masked"));
  ASSERT_TRUE(
      a.Feed(Data(std::string("\x01\x00\x02\x00\x03\x00\x04\x00", 8))).ok());
  ASSERT_TRUE(a.CheckComplete().ok());
  EXPECT_EQ(a.TakeMaskedInput(), (std::vector<uint32_t>{1, 2, 3, 4}));
}

TEST(UploadAssemblerTest, OverflowShortStreamAndSecondHeaderAreRefused) {
  UploadAssembler a = UploadAssembler::ForUpdate(Header(2), 2, 10);
  absl::Status over = a.Feed(Data(FloatBytes({1, 2, 3})));
  EXPECT_THAT(Message(over), HasSubstr("overflows the announced 2 values"));
  ASSERT_TRUE(a.Feed(Data(FloatBytes({1}))).ok());
  EXPECT_THAT(Message(a.CheckComplete()), HasSubstr("ended after 1 of 2"));
  v1::ResultChunk header;
  *header.mutable_header() = Header(2);
  EXPECT_THAT(Message(a.Feed(header)), HasSubstr("second header"));
}

TEST(UploadAssemblerTest, ChunkCountIsCapped) {
  UploadAssembler a = UploadAssembler::ForUpdate(Header(10), 10, 3);
  EXPECT_TRUE(a.Feed(Data(FloatBytes({1}))).ok());  // message 2
  EXPECT_TRUE(a.Feed(Data(FloatBytes({1}))).ok());  // message 3
  absl::Status s = a.Feed(Data(FloatBytes({1})));
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_THAT(Message(s), HasSubstr("max_chunks_per_stream"));
}

TEST(UploadAssemblerTest, HeaderShapeIsCheckedBeforeAnyAllocation) {
  // 2^40 values would be 4 TiB: refused from the header alone.
  absl::Status absurd =
      UploadAssembler::CheckHeader(Header(uint64_t{1} << 40), 100, 0, 4);
  EXPECT_TRUE(absl::IsInvalidArgument(absurd));
  EXPECT_THAT(Message(absurd), HasSubstr("the model has 100"));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      UploadAssembler::CheckHeader(Header(4, true, 4), 100, 0, 4)));
  EXPECT_THAT(
      Message(UploadAssembler::CheckHeader(Header(5, true, 4), 100, 4, 4)),
      HasSubstr("expected 4"));
  EXPECT_THAT(
      Message(UploadAssembler::CheckHeader(Header(4, true, 2), 100, 4, 4)),
      HasSubstr("4 bytes wide"));
}

}  // namespace
}  // namespace fedlearn
