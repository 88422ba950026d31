// The in-place chunk path (ResultChunkView + UploadAssembler::FeedPayload +
// the squared norm measured while decoding) against the parsed-message
// path it replaces: the same verdicts, the same messages, bit-identical
// running sums, whatever the slices the bytes arrived in.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/result_chunk_view.h"
#include "server/round/fedavg_aggregator.h"
#include "server/round/plain_collector.h"
#include "server/upload_assembler.h"
#include "tests/test_util/float_bytes.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using testing_util::FloatBytes;

v1::UpdateHeader Header(uint64_t num_values) {
  v1::UpdateHeader header;
  header.mutable_ref()->set_run_id("r");
  header.mutable_ref()->set_round(3);
  header.set_num_examples(7);
  header.set_num_values(num_values);
  header.set_train_loss(0.5);
  return header;
}

std::vector<float> RandomValues(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.01f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// `bytes` cut at the given offsets (sorted, within the string).
std::vector<std::string_view> Cut(std::string_view bytes,
                                  const std::vector<size_t>& cuts) {
  std::vector<std::string_view> pieces;
  size_t at = 0;
  for (size_t cut : cuts) {
    pieces.push_back(bytes.substr(at, cut - at));
    at = cut;
  }
  pieces.push_back(bytes.substr(at));
  return pieces;
}

std::string Wire(const v1::ResultChunk& chunk) {
  std::string out;
  EXPECT_TRUE(chunk.SerializeToString(&out));
  return out;
}

std::string Joined(const std::vector<std::string_view>& pieces) {
  std::string out;
  for (std::string_view p : pieces) out.append(p);
  return out;
}

TEST(ResultChunkViewTest, PayloadIsFoundWhereverTheSlicesAreCut) {
  v1::ResultChunk chunk;
  chunk.set_update_data(FloatBytes(RandomValues(300, 1)));  // 2-byte varint
  const std::string wire = Wire(chunk);
  for (size_t a = 0; a <= wire.size(); a += 7) {
    for (size_t b = a; b <= wire.size(); b += 13) {
      auto pieces = UpdateDataPieces(Cut(wire, {a, b}));
      ASSERT_TRUE(pieces.has_value()) << a << " " << b;
      EXPECT_EQ(Joined(*pieces), chunk.update_data());
    }
  }
}

TEST(ResultChunkViewTest, AnythingButOnePayloadFieldIsLeftToProtobuf) {
  v1::ResultChunk header;
  *header.mutable_header() = Header(4);
  v1::ResultChunk data;
  data.set_update_data(FloatBytes({1, 2, 3, 4}));
  const std::string one = Wire(data);
  const std::string cases[] = {
      "",                                // an empty message
      Wire(header),                      // a header
      one + one,                         // the field twice
      one + std::string("\x18\x01", 2),  // an unknown field after it
      one.substr(0, one.size() - 1),     // truncated
      std::string("\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12),
  };
  for (const std::string& wire : cases) {
    EXPECT_FALSE(UpdateDataPieces(Cut(wire, {})).has_value())
        << testing::PrintToString(wire);
  }
  v1::ResultChunk empty;
  empty.set_update_data("");
  auto pieces = UpdateDataPieces(Cut(Wire(empty), {}));
  ASSERT_TRUE(pieces.has_value());  // protobuf too: an empty payload is set
  EXPECT_TRUE(pieces->empty());
}

// Property over random byte strings: whenever the view accepts a message,
// protobuf parses it to exactly that payload.
TEST(ResultChunkViewTest, AcceptsNothingProtobufReadsDifferently) {
  std::mt19937 rng(7);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string wire(rng() % 12, '\0');
    for (char& c : wire) c = static_cast<char>(rng());
    if (!wire.empty() && rng() % 2) wire[0] = '\x12';
    if (wire.size() > 1 && rng() % 2)
      wire[1] = static_cast<char>(wire.size() - 2);
    auto pieces = UpdateDataPieces(Cut(wire, {wire.size() / 2}));
    if (!pieces.has_value()) continue;
    ++accepted;
    v1::ResultChunk parsed;
    ASSERT_TRUE(parsed.ParseFromString(wire));
    ASSERT_TRUE(parsed.has_update_data());
    EXPECT_EQ(parsed.update_data(), Joined(*pieces));
  }
  EXPECT_GT(accepted, 100);
}

// The old path: parsed chunks, no measured norm.
UpdateSubmission ViaParsedChunks(const std::vector<float>& values,
                                 size_t chunk_values) {
  UploadAssembler a =
      UploadAssembler::ForUpdate(Header(values.size()), values.size(), 1 << 20);
  for (size_t at = 0; at < values.size(); at += chunk_values) {
    v1::ResultChunk chunk;
    const size_t n = std::min(chunk_values, values.size() - at);
    chunk.set_update_data(
        FloatBytes({values.begin() + at, values.begin() + at + n}));
    EXPECT_TRUE(a.Feed(chunk).ok());
  }
  EXPECT_TRUE(a.CheckComplete().ok());
  UpdateSubmission s = a.TakeUpdate();
  s.squared_norm.reset();
  return s;
}

// The new path: each chunk's wire bytes cut into slices of `slice` bytes
// (not a multiple of 4), read in place.
UpdateSubmission ViaSlices(const std::vector<float>& values,
                           size_t chunk_values, size_t slice) {
  UploadAssembler a =
      UploadAssembler::ForUpdate(Header(values.size()), values.size(), 1 << 20);
  for (size_t at = 0; at < values.size(); at += chunk_values) {
    v1::ResultChunk chunk;
    const size_t n = std::min(chunk_values, values.size() - at);
    chunk.set_update_data(
        FloatBytes({values.begin() + at, values.begin() + at + n}));
    const std::string wire = Wire(chunk);
    std::vector<size_t> cuts;
    for (size_t c = slice; c < wire.size(); c += slice) cuts.push_back(c);
    auto pieces = UpdateDataPieces(Cut(wire, cuts));
    EXPECT_TRUE(pieces.has_value());
    EXPECT_TRUE(a.FeedPayload(*pieces).ok());
  }
  EXPECT_TRUE(a.CheckComplete().ok());
  return a.TakeUpdate();
}

std::vector<float> SumOf(const std::vector<UpdateSubmission>& updates) {
  FedAvgAggregator sum(updates[0].delta.size());
  for (const UpdateSubmission& u : updates) {
    EXPECT_TRUE(CheckUpdateContent(u, u.delta.size(), 100, 1e4).ok());
    EXPECT_TRUE(sum.Add(u.delta.span(), u.num_examples).ok());
  }
  return sum.TakeSum();
}

TEST(UploadZeroCopyTest, SlicedChunksSumBitIdenticallyToParsedChunks) {
  const size_t d = 10'007;
  std::vector<UpdateSubmission> parsed, sliced;
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    const std::vector<float> v = RandomValues(d, seed);
    parsed.push_back(ViaParsedChunks(v, 1024));
    sliced.push_back(ViaSlices(v, 999, 4093));  // odd cuts, odd chunks
    ASSERT_EQ(std::memcmp(parsed.back().delta.data(),
                          sliced.back().delta.data(), 4 * d),
              0);
  }
  const std::vector<float> a = SumOf(parsed);
  const std::vector<float> b = SumOf(sliced);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), 4 * a.size()), 0);
}

TEST(UploadZeroCopyTest, MeasuredNormDoesNotDependOnTheChunking) {
  const std::vector<float> v = RandomValues(5'003, 9);
  const double reference = *ViaSlices(v, 5'003, 1 << 20).squared_norm;
  for (size_t chunk : {1, 3, 8, 1000}) {
    for (size_t slice : {5, 4093}) {
      EXPECT_EQ(*ViaSlices(v, chunk, slice).squared_norm, reference);
    }
  }
  // Against the sequential sum in double: equal up to rounding.
  double sequential = 0;
  for (float x : v) sequential += double(x) * double(x);
  EXPECT_NEAR(reference, sequential, 1e-12 * sequential);
}

TEST(UploadZeroCopyTest, NanAndInfAcrossASliceEdgeAreNamedAsBefore) {
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> v = RandomValues(2'000, 3);
    v[1'234] = bad;  // message bytes 4939..4942 (3-byte prefix): cut at 4941
    UpdateSubmission old_path = ViaParsedChunks(v, 2'000);
    UpdateSubmission new_path = ViaSlices(v, 2'000, 4'941);
    ASSERT_TRUE(new_path.squared_norm.has_value());
    EXPECT_FALSE(std::isfinite(*new_path.squared_norm));
    absl::Status was = CheckUpdateContent(old_path, v.size(), 100, 1e4);
    absl::Status is = CheckUpdateContent(new_path, v.size(), 100, 1e4);
    EXPECT_TRUE(absl::IsInvalidArgument(is)) << is;
    EXPECT_EQ(is, was);
    EXPECT_THAT(std::string(is.message()), HasSubstr("index 1234"));
  }
}

TEST(UploadZeroCopyTest, NormBoundIsStillEnforced) {
  std::vector<float> v(100, 0.0f);
  v[10] = 3.0f;
  v[57] = 4.0f;  // norm 5, exactly
  UpdateSubmission s = ViaSlices(v, 100, 7);
  EXPECT_EQ(*s.squared_norm, 25.0);
  EXPECT_TRUE(CheckUpdateContent(s, 100, 100, 5.0).ok());
  absl::Status over = CheckUpdateContent(s, 100, 100, 4.99);
  EXPECT_THAT(std::string(over.message()), HasSubstr("exceeds"));
}

TEST(UploadZeroCopyTest, MalformedPayloadsGetTheParsedPathsVerdicts) {
  const std::string five = FloatBytes({1, 2, 3, 4, 5});
  struct Case {
    std::string payload;
    const char* message;
  } cases[] = {{five.substr(0, 7), "7 bytes is not a whole number of 4-byte"},
               {five, "overflows the announced 4 values"}};
  for (const Case& c : cases) {
    UploadAssembler parsed = UploadAssembler::ForUpdate(Header(4), 4, 10);
    UploadAssembler sliced = UploadAssembler::ForUpdate(Header(4), 4, 10);
    v1::ResultChunk chunk;
    chunk.set_update_data(c.payload);
    absl::Status was = parsed.Feed(chunk);
    absl::Status is = sliced.FeedPayload(Cut(c.payload, {1, 2, 6}));
    EXPECT_EQ(is, was);
    EXPECT_THAT(std::string(is.message()), HasSubstr(c.message));
    EXPECT_EQ(sliced.received(), 0u);  // nothing decoded
  }
  UploadAssembler capped = UploadAssembler::ForUpdate(Header(4), 4, 2);
  EXPECT_TRUE(capped.FeedPayload(Cut(FloatBytes({1}), {2})).ok());
  EXPECT_TRUE(
      absl::IsResourceExhausted(capped.FeedPayload(Cut(FloatBytes({1}), {2}))));
}

}  // namespace
}  // namespace fedlearn
