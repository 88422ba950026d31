#include "common/secagg/input_encoding.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

EncodingParameters Params() {
  EncodingParameters p;
  p.modulus_bits = 32;
  p.quantization_bits = 20;
  p.clip_range = 1.0;
  p.max_weight = 1000;
  p.max_clients = 100;
  return p;
}

TEST(InputEncoderTest, SumOfEncodingsDecodesToTheWeightedMeanWithinQuantizationError) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(Params());
  ASSERT_TRUE(enc.ok()) << enc.status();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> value(-0.9f, 0.9f);
  std::uniform_int_distribution<int> examples(1, 2000);
  const size_t d = 500;
  const int clients = 60;
  std::vector<uint32_t> sum(d + 2, 0);
  std::vector<double> expected(d, 0.0);
  double total_w = 0;
  double loss_sum = 0;
  for (int c = 0; c < clients; ++c) {
    std::vector<float> update(d);
    for (float& v : update) v = value(rng);
    const int n = examples(rng);
    const double w = std::min(n, 1000) / 1000.0;
    const double loss = 0.1 * (c % 7);
    absl::StatusOr<EncodedUpdate> e = enc->Encode(update, n, loss);
    ASSERT_TRUE(e.ok());
    ASSERT_EQ(e->values.size(), d + 2);
    for (size_t j = 0; j < d + 2; ++j) sum[j] += e->values[j];  // wraps mod 2^32
    loss_sum += w * loss;
    for (size_t j = 0; j < d; ++j) expected[j] += w * update[j];
    total_w += w;
  }
  absl::StatusOr<DecodedAggregate> dec = enc->Decode(sum);
  ASSERT_TRUE(dec.ok()) << dec.status();
  EXPECT_NEAR(dec->total_weight, total_w, clients / ((1 << 19) - 1.0));
  EXPECT_NEAR(dec->mean_loss, loss_sum / total_w, clients * 100.0 / ((1 << 19) - 1) / total_w);
  // Per value: |rounding| < 1 step, so |sum error| < clients steps.
  const double step = 1.0 / ((1 << 19) - 1);
  for (size_t j = 0; j < d; ++j) {
    EXPECT_NEAR(dec->weighted_mean[j], expected[j] / total_w,
                1.01 * clients * step / total_w + 1e-6)
        << j;
  }
}

TEST(InputEncoderTest, NegativeValuesWrapAndDecodeAsNegative) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(Params());
  ASSERT_TRUE(enc.ok());
  absl::StatusOr<EncodedUpdate> e = enc->Encode(std::vector<float>{-0.5f, 0.25f}, 1000);
  ASSERT_TRUE(e.ok());
  EXPECT_GT(e->values[0], 0x80000000u);  // two's complement
  absl::StatusOr<DecodedAggregate> dec = enc->Decode(e->values);
  ASSERT_TRUE(dec.ok());
  EXPECT_NEAR(dec->weighted_mean[0], -0.5, 1e-5);
  EXPECT_NEAR(dec->weighted_mean[1], 0.25, 1e-5);
  EXPECT_NEAR(dec->total_weight, 1.0, 1e-5);
}

TEST(InputEncoderTest, StochasticRoundingIsUnbiased) {
  EncodingParameters p = Params();
  p.quantization_bits = 4;  // step = 1/7: rounding is visible
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(p);
  ASSERT_TRUE(enc.ok());
  const float x = 0.3f;  // 0.3 * 7 = 2.1 -> 2 or 3, mean 2.1
  const int trials = 20000;
  double sum = 0;
  for (int i = 0; i < trials; ++i) {
    absl::StatusOr<EncodedUpdate> e = enc->Encode(std::vector<float>{x}, 1000);
    sum += static_cast<int32_t>(e->values[0]);
    ASSERT_TRUE(e->values[0] == 2 || e->values[0] == 3);
  }
  // Bernoulli(0.1) mean: sd of the average = sqrt(0.09/20000) = 0.0021; 5 sd.
  EXPECT_NEAR(sum / trials, 2.1, 0.0106);
}

TEST(InputEncoderTest, ClipsAndReportsTheClippedFraction) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(Params());
  absl::StatusOr<EncodedUpdate> e = enc->Encode(std::vector<float>{5, -5, 0.5, 0}, 1000);
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(e->clipped_fraction, 0.5);
  absl::StatusOr<DecodedAggregate> dec = enc->Decode(e->values);
  EXPECT_NEAR(dec->weighted_mean[0], 1.0, 1e-5);
  EXPECT_NEAR(dec->weighted_mean[1], -1.0, 1e-5);
}

TEST(InputEncoderTest, RefusesConfigurationsThatCanOverflowNamingTheKnob) {
  EncodingParameters p = Params();
  p.max_clients = 5000;  // 5000 * 2^19 > 2^31
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(p);
  ASSERT_FALSE(enc.ok());
  EXPECT_NE(std::string(enc.status().message()).find("secagg.quantization_bits"),
            std::string::npos);
  p.quantization_bits = 18;  // 5000 * 2^17 < 2^31
  EXPECT_TRUE(InputEncoder::Create(p).ok());
  p = Params();
  p.modulus_bits = 16;
  p.quantization_bits = 10;
  p.max_clients = 64;  // 64 * 511 < 2^15
  EXPECT_TRUE(InputEncoder::Create(p).ok());
  p.max_clients = 65;  // 65 * 511 > 32767
  EXPECT_FALSE(InputEncoder::Create(p).ok());
}

TEST(InputEncoderTest, SixteenBitModulusSumsWithoutWrapAtTheLimit) {
  EncodingParameters p = Params();
  p.modulus_bits = 16;
  p.quantization_bits = 10;
  p.max_clients = 64;
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(p);
  ASSERT_TRUE(enc.ok());
  std::vector<uint32_t> sum(3, 0);
  for (int c = 0; c < 64; ++c) {
    absl::StatusOr<EncodedUpdate> e = enc->Encode(std::vector<float>{-1.0f}, 1000);
    for (size_t j = 0; j < 3; ++j) sum[j] = (sum[j] + e->values[j]) & enc->modulus_mask();
  }
  absl::StatusOr<DecodedAggregate> dec = enc->Decode(sum);
  ASSERT_TRUE(dec.ok());
  EXPECT_NEAR(dec->weighted_mean[0], -1.0, 1e-6);
}

TEST(InputEncoderTest, RejectsNonFiniteInputAndZeroExamples) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(Params());
  EXPECT_FALSE(enc->Encode(std::vector<float>{std::nanf("")}, 1).ok());
  EXPECT_FALSE(enc->Encode(std::vector<float>{INFINITY}, 1).ok());
  EXPECT_FALSE(enc->Encode(std::vector<float>{0.1f}, 0).ok());
  EXPECT_FALSE(enc->Encode(std::vector<float>{0.1f}, 1, std::nan("")).ok());
  EXPECT_FALSE(enc->Decode(std::vector<uint32_t>{5, 0, 0}).ok());  // zero weight
}

}  // namespace
}  // namespace fedlearn
