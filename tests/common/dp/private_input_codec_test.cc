#include "common/dp/private_input_codec.h"

#include <cmath>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

v1::SecAggEncoding Encoding(int max_clients) {
  v1::SecAggEncoding e;
  e.set_modulus_bits(32);
  e.set_quantization_bits(20);
  e.set_clip_range(1.0);
  e.set_max_weight(10000);
  e.set_max_clients(max_clients);
  return e;
}

v1::DpTaskConfig Central(double clip) {
  v1::DpTaskConfig dp;
  dp.set_mode(v1::DpTaskConfig::CENTRAL);
  dp.set_clip_norm(clip);
  return dp;
}

v1::DpTaskConfig Distributed(double clip, double noise, int n_min, int n_max,
                             double indicator_noise) {
  v1::DpTaskConfig dp;
  dp.set_mode(v1::DpTaskConfig::DISTRIBUTED);
  dp.set_clip_norm(clip);
  dp.set_noise_stddev(noise);
  dp.set_min_clients(n_min);
  dp.set_max_clients(n_max);
  dp.set_modulus_bits(32);
  dp.set_rotation_seed(std::string(32, '\x5a'));
  dp.set_indicator_noise_stddev(indicator_noise);
  return dp;
}

// n clipped random updates of norm <= clip and their exact sum.
std::vector<std::vector<float>> Updates(int n, size_t d, double clip,
                                        std::vector<double>* sum) {
  std::mt19937 rng(9);  // test data only
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> out(n, std::vector<float>(d));
  sum->assign(d, 0.0);
  for (auto& u : out) {
    double norm = 0;
    for (float& x : u) {
      x = normal(rng);
      norm += double(x) * x;
    }
    const double f = clip * 0.9 / std::sqrt(norm);
    for (size_t j = 0; j < d; ++j) {
      u[j] = static_cast<float>(u[j] * f);
      (*sum)[j] += u[j];
    }
  }
  return out;
}

std::vector<uint32_t> SumMod(const std::vector<std::vector<uint32_t>>& vs) {
  std::vector<uint32_t> s(vs[0].size(), 0);
  for (const auto& v : vs)
    for (size_t j = 0; j < s.size(); ++j) s[j] += v[j];
  return s;
}

TEST(PrivateInputCodecTest,
     CentralSumDecodesToTheSumOfClippedUpdatesAndIndicators) {
  const int n = 7;
  const size_t d = 50;
  absl::StatusOr<PrivateInputCodec> codec =
      PrivateInputCodec::Create(Central(2.0), Encoding(n), d);
  ASSERT_TRUE(codec.ok()) << codec.status();
  EXPECT_EQ(codec->encoded_length(), d + 2);
  std::vector<double> sum;
  auto updates = Updates(n, d, 2.0, &sum);
  NoiseSource rng = NoiseSource::FromSeedForTesting(1);
  std::vector<std::vector<uint32_t>> encoded;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<std::vector<uint32_t>> e =
        codec->Encode(updates[i], /*unclipped=*/i < 5, rng);
    ASSERT_TRUE(e.ok()) << e.status();
    encoded.push_back(*e);
  }
  absl::StatusOr<PrivateSum> decoded = codec->Decode(SumMod(encoded));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_FALSE(decoded->noised);  // the coordinator adds the noise
  EXPECT_DOUBLE_EQ(decoded->indicator_sum, 5 - 2);
  const double step = 2.0 / (std::ldexp(1.0, 19) - 1);  // clip range C
  for (size_t j = 0; j < d; ++j) {
    EXPECT_NEAR(decoded->update_sum[j], sum[j], n * step) << j;
  }
}

TEST(PrivateInputCodecTest, DistributedIndicatorSlotCarriesItsNoise) {
  // 400 clients with indicator +1 and a noise stddev of 3 on the sum of
  // indicators (split over n_min = 400): across 60 independent rounds the
  // decoded sum minus 400 has variance 9. Chi-square 99.9% interval for 59
  // degrees of freedom: [0.522, 1.676] x 9.
  const int n = 400;
  const size_t d = 4;
  absl::StatusOr<PrivateInputCodec> codec = PrivateInputCodec::Create(
      Distributed(1.0, 0.5, n, n, 3.0), Encoding(n), d);
  ASSERT_TRUE(codec.ok()) << codec.status();
  EXPECT_EQ(codec->encoded_length(), 4 + 1);
  ASSERT_NE(codec->distributed(), nullptr);
  NoiseSource rng = NoiseSource::FromSeedForTesting(2);
  const std::vector<float> zero(d, 0.0f);
  std::vector<double> devs;
  for (int round = 0; round < 60; ++round) {
    std::vector<uint32_t> sum(codec->encoded_length(), 0);
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<std::vector<uint32_t>> e = codec->Encode(zero, true, rng);
      ASSERT_TRUE(e.ok());
      for (size_t j = 0; j < sum.size(); ++j) sum[j] += (*e)[j];
    }
    absl::StatusOr<PrivateSum> decoded = codec->Decode(sum);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_TRUE(decoded->noised);
    devs.push_back(decoded->indicator_sum - n);
  }
  double sq = 0;
  for (double x : devs) sq += x * x;
  const double var = sq / devs.size();
  EXPECT_GT(var, 0.522 * 9 * 59 / 60);
  EXPECT_LT(var, 1.676 * 9);
}

TEST(PrivateInputCodecTest, RefusesBadConfigurationsAndInputs) {
  EXPECT_FALSE(PrivateInputCodec::Create(Central(0), Encoding(3), 4).ok());
  v1::DpTaskConfig unknown = Central(1);
  unknown.set_mode(v1::DpTaskConfig::DP_MODE_UNSPECIFIED);
  EXPECT_FALSE(PrivateInputCodec::Create(unknown, Encoding(3), 4).ok());
  v1::DpTaskConfig short_seed = Distributed(1, 1, 3, 3, 0);
  short_seed.set_rotation_seed("abc");
  absl::StatusOr<PrivateInputCodec> c =
      PrivateInputCodec::Create(short_seed, Encoding(3), 4);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("rotation seed"));
  absl::StatusOr<PrivateInputCodec> ok =
      PrivateInputCodec::Create(Central(1), Encoding(3), 4);
  ASSERT_TRUE(ok.ok());
  NoiseSource rng = NoiseSource::FromSeedForTesting(3);
  EXPECT_FALSE(ok->Encode(std::vector<float>(5, 0.0f), true, rng).ok());
  EXPECT_FALSE(ok->Decode(std::vector<uint32_t>(3, 0)).ok());
}

}  // namespace
}  // namespace fedlearn
