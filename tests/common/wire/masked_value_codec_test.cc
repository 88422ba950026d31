// The masked-value wire form both the client transport and the coordinator
// service use.
#include "common/wire/masked_value_codec.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

TEST(MaskedValueCodecTest, TwoAndFourByteValuesRoundTripLittleEndian) {
  std::string two;
  ASSERT_TRUE(AppendMaskedValues({0x1234u, 0xffffu}, 2, &two).ok());
  EXPECT_EQ(two, std::string("\x34\x12\xff\xff", 4));
  std::string four;
  ASSERT_TRUE(AppendMaskedValues({0x01020304u}, 4, &four).ok());
  EXPECT_EQ(four, std::string("\x04\x03\x02\x01", 4));

  std::mt19937_64 rng(5);
  for (int width : {2, 4}) {
    std::vector<uint32_t> values(1000);
    for (uint32_t& v : values) {
      v = static_cast<uint32_t>(rng()) & (width == 2 ? 0xffffu : 0xffffffffu);
    }
    std::string bytes = "prefix";
    ASSERT_TRUE(AppendMaskedValues(values, width, &bytes).ok());
    std::vector<uint32_t> decoded(values.size());
    ASSERT_TRUE(DecodeMaskedValues(std::string_view(bytes).substr(6), width,
                                   absl::MakeSpan(decoded))
                    .ok());
    EXPECT_EQ(decoded, values) << "width " << width;
  }
}

TEST(MaskedValueCodecTest, RefusesOtherWidthsValuesTooWideAndShortPayloads) {
  std::string out = "kept";
  EXPECT_TRUE(absl::IsInvalidArgument(AppendMaskedValues({1}, 3, &out)));
  EXPECT_TRUE(
      absl::IsInvalidArgument(AppendMaskedValues({1, 0x10000u}, 2, &out)));
  EXPECT_EQ(out, "kept");  // nothing partial appended
  std::vector<uint32_t> two(2);
  EXPECT_TRUE(absl::IsInvalidArgument(
      DecodeMaskedValues("abc", 2, absl::MakeSpan(two))));
  EXPECT_TRUE(absl::IsInvalidArgument(
      DecodeMaskedValues("abcdefgh", 8, absl::MakeSpan(two))));
  EXPECT_TRUE(DecodeMaskedValues("abcd", 2, absl::MakeSpan(two)).ok());
}

}  // namespace
}  // namespace fedlearn
