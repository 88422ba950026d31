#include "common/flat/flat_vector.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

TEST(FlatVectorCodecTest, RoundTripPreservesEveryBitIncludingSpecialValues) {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.5f,
                               -3.25e-38f,
                               std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::denorm_min()};
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 10.0f);
  for (int i = 0; i < 1000; ++i) values.push_back(normal(rng));

  std::string bytes;
  AppendFloat32LE(values, &bytes);
  ASSERT_EQ(bytes.size(), values.size() * 4);
  FlatVector decoded(values.size());
  ASSERT_TRUE(DecodeFloat32LE(bytes, decoded.span()).ok());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(std::memcmp(&values[i], &decoded[i], 4), 0) << "index " << i;
  }
}

TEST(FlatVectorCodecTest, EncodingIsLittleEndianIeee754) {
  std::string bytes;
  const float one = 1.0f;  // 0x3F800000
  AppendFloat32LE(absl::MakeConstSpan(&one, 1), &bytes);
  EXPECT_EQ(bytes, std::string("\x00\x00\x80\x3f", 4));
}

TEST(FlatVectorCodecTest, DecodeRejectsRaggedAndOversizedPayloads) {
  FlatVector dst(2);
  EXPECT_FALSE(DecodeFloat32LE(std::string(7, '\0'), dst.span()).ok());
  EXPECT_FALSE(DecodeFloat32LE(std::string(12, '\0'), dst.span()).ok());
  EXPECT_TRUE(DecodeFloat32LE(std::string(8, '\0'), dst.span()).ok());
}

// Found by tests/fuzz/float32_le_fuzzer: an empty payload into an empty
// span, and an empty span appended, passed null pointers to memcpy
// (undefined behaviour; UBSan aborts, so these fail before the fix in the
// SANITIZE=address,undefined build).
TEST(FlatVectorCodecTest, DecodeAcceptsAnEmptyPayloadIntoAnEmptyDestination) {
  FlatVector dst;
  EXPECT_TRUE(DecodeFloat32LE(std::string_view(), dst.span()).ok());
}

TEST(FlatVectorCodecTest, AppendingNoValuesAppendsNothing) {
  std::string bytes = "ab";
  AppendFloat32LE(absl::Span<const float>(), &bytes);
  EXPECT_EQ(bytes, "ab");
}

TEST(FlatVectorCodecTest, AppendingChunksEqualsEncodingWhole) {
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(i) * 0.5f;
  std::string whole, chunked;
  AppendFloat32LE(values, &whole);
  for (size_t off = 0; off < values.size(); off += 333) {
    AppendFloat32LE(absl::MakeConstSpan(values).subspan(off, 333), &chunked);
  }
  EXPECT_EQ(whole, chunked);
}

TEST(CheckAllFiniteTest, NamesTheFirstNonFiniteIndex) {
  std::vector<float> values(10, 1.0f);
  EXPECT_TRUE(CheckAllFinite(values).ok());
  values[7] = std::nanf("");
  absl::Status s = CheckAllFinite(values);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("index 7"), std::string::npos);
  EXPECT_NE(s.message().find("NaN"), std::string::npos);
  values[7] = 1.0f;
  values[3] = -std::numeric_limits<float>::infinity();
  EXPECT_NE(CheckAllFinite(values).message().find("index 3"),
            std::string::npos);
}

TEST(ModelSpecTest, NumElementsAndCompatibility) {
  ModelSpec a{
      "lenet5",
      {{"w", {6, 1, 5, 5}, DType::kFloat32}, {"b", {6}, DType::kFloat32}}};
  EXPECT_EQ(a.NumElements(), 156);
  ModelSpec b = a;
  b.architecture = "other";
  EXPECT_TRUE(a.CompatibleWith(b));
  EXPECT_EQ(a.DescribeMismatch(b), "");
  b.tensors[1].shape = {7};
  EXPECT_FALSE(a.CompatibleWith(b));
  EXPECT_NE(a.DescribeMismatch(b).find("tensor #1"), std::string::npos);
}

TEST(FlatVectorTest, CloneIsDeepAndMoveEmptiesSource) {
  FlatVector a(std::vector<float>{1, 2, 3});
  FlatVector b = a.Clone();
  b[0] = 9;
  EXPECT_EQ(a[0], 1);
  FlatVector c = std::move(a);
  EXPECT_EQ(c.size(), 3u);
}

}  // namespace
}  // namespace fedlearn
