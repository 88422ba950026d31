#include "common/secagg/input_encoding.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

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

TEST(InputEncoderTest,
     SumOfEncodingsDecodesToTheWeightedMeanWithinQuantizationError) {
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
    for (size_t j = 0; j < d + 2; ++j)
      sum[j] += e->values[j];  // wraps mod 2^32
    loss_sum += w * loss;
    for (size_t j = 0; j < d; ++j) expected[j] += w * update[j];
    total_w += w;
  }
  absl::StatusOr<DecodedAggregate> dec = enc->Decode(sum);
  ASSERT_TRUE(dec.ok()) << dec.status();
  EXPECT_NEAR(dec->total_weight, total_w, clients / ((1 << 19) - 1.0));
  EXPECT_NEAR(dec->mean_loss, loss_sum / total_w,
              clients * 100.0 / ((1 << 19) - 1) / total_w);
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
  absl::StatusOr<EncodedUpdate> e =
      enc->Encode(std::vector<float>{-0.5f, 0.25f}, 1000);
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
  absl::StatusOr<EncodedUpdate> e =
      enc->Encode(std::vector<float>{5, -5, 0.5, 0}, 1000);
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
  EXPECT_NE(
      std::string(enc.status().message()).find("secagg.quantization_bits"),
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
  // 64 clients leave 15 - 6 = 9 bits per count limb: 1000 needs two.
  ASSERT_EQ(enc->count_limbs(), 2);
  std::vector<uint32_t> sum(enc->encoded_length(1), 0);
  for (int c = 0; c < 64; ++c) {
    absl::StatusOr<EncodedUpdate> e =
        enc->Encode(std::vector<float>{-1.0f}, 1000);
    ASSERT_EQ(e->values.size(), sum.size());
    for (size_t j = 0; j < sum.size(); ++j) {
      sum[j] = (sum[j] + e->values[j]) & enc->modulus_mask();
    }
  }
  absl::StatusOr<DecodedAggregate> dec = enc->Decode(sum);
  ASSERT_TRUE(dec.ok());
  EXPECT_NEAR(dec->weighted_mean[0], -1.0, 1e-6);
  EXPECT_EQ(dec->total_examples, 64u * 1000u);
}

TEST(InputEncoderTest, RejectsNonFiniteInputAndZeroExamples) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(Params());
  EXPECT_FALSE(enc->Encode(std::vector<float>{std::nanf("")}, 1).ok());
  EXPECT_FALSE(enc->Encode(std::vector<float>{INFINITY}, 1).ok());
  EXPECT_FALSE(enc->Encode(std::vector<float>{0.1f}, 0).ok());
  EXPECT_FALSE(enc->Encode(std::vector<float>{0.1f}, 1, std::nan("")).ok());
  EXPECT_FALSE(
      enc->Decode(std::vector<uint32_t>{5, 0, 0}).ok());  // zero weight
}

// ---- The per-round encoding: exact counts, limbs, precision ----

// Sums encodings modulo 2^b, as secure aggregation does.
std::vector<uint32_t> SumOf(
    const InputEncoder& enc,
    const std::vector<std::vector<uint32_t>>& encodings) {
  std::vector<uint32_t> sum(encodings.at(0).size(), 0);
  for (const std::vector<uint32_t>& e : encodings) {
    for (size_t j = 0; j < sum.size(); ++j)
      sum[j] = (sum[j] + e[j]) & enc.modulus_mask();
  }
  return sum;
}

TEST(InputEncoderTest,
     LargestQuantizationBitsKeepsTheCohortSumBelowTheModulus) {
  EXPECT_EQ(LargestQuantizationBits(32, 1), 32);  // 2^31 - 1 < 2^31
  EXPECT_EQ(LargestQuantizationBits(32, 3),
            30);  // 3 (2^29 - 1) < 2^31 <= 3 (2^30 - 1)
  EXPECT_EQ(LargestQuantizationBits(32, 5), 29);
  EXPECT_EQ(LargestQuantizationBits(16, 64), 10);  // 64 * 511 < 32768
  EXPECT_EQ(LargestQuantizationBits(16, 65), 9);   // 65 * 511 > 32767
  for (int n : {1, 2, 3, 7, 64, 65, 1000, 100000}) {
    const int q = LargestQuantizationBits(32, n);
    EncodingParameters p = Params();
    p.max_clients = n;
    p.max_weight = 1;
    p.quantization_bits = q;
    EXPECT_TRUE(InputEncoder::Create(p).ok()) << n;
    if (q < 32) {
      p.quantization_bits = q + 1;
      EXPECT_FALSE(InputEncoder::Create(p).ok()) << n;
    }
  }
}

TEST(InputEncoderTest, CountLimbsSplitTheExampleCountLeastSignificantFirst) {
  EXPECT_EQ(CountLimbBits(32, 1), 31);
  EXPECT_EQ(CountLimbBits(32, 3), 29);
  EXPECT_EQ(CountLimbBits(16, 64), 9);
  EXPECT_EQ(CountLimbBits(16, 65), 8);
  EncodingParameters p = Params();
  p.modulus_bits = 16;
  p.quantization_bits = 10;
  p.max_clients = 64;     // L = 9 bits per limb
  p.max_weight = 100000;  // 17 bits: two limbs
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(p);
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(enc->count_limb_bits(), 9);
  EXPECT_EQ(enc->count_limbs(), 2);
  EXPECT_EQ(enc->encoded_length(5), 5u + 1 + 2);
  absl::StatusOr<EncodedUpdate> e = enc->Encode(std::vector<float>{0.5f}, 1000);
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->values.size(), 4u);
  EXPECT_EQ(e->values[2], 1000u % 512);  // 488
  EXPECT_EQ(e->values[3], 1000u / 512);  // 1
  // A count above max_weight is clamped to it: 100000 = 195 * 512 + 160.
  e = enc->Encode(std::vector<float>{0.5f}, 5'000'000);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->values[2], 160u);
  EXPECT_EQ(e->values[3], 195u);

  // Unit weight (DP rounds) and every coordinator-planned round keep the
  // old length D + 2.
  p = Params();
  p.max_weight = 1;
  absl::StatusOr<InputEncoder> unit = InputEncoder::Create(p);
  ASSERT_TRUE(unit.ok());
  EXPECT_EQ(unit->encoded_length(7), InputEncoder::EncodedLength(7));
}

TEST(InputEncoderTest, ExampleCountDecodesExactlyForManySeedsAndCohortSizes) {
  for (int modulus_bits : {16, 32}) {
    for (int cohort : {1, 2, 3, 7, 64, 65, 300}) {
      for (uint32_t seed = 0; seed < 10; ++seed) {
        std::mt19937 rng(seed * 1000 + cohort + modulus_bits);
        EncodingParameters p = Params();
        p.modulus_bits = modulus_bits;
        p.quantization_bits = LargestQuantizationBits(modulus_bits, cohort);
        p.max_clients = cohort;
        p.max_weight = std::uniform_int_distribution<int>(
            1, 200000)(rng);  // up to 3 limbs at b = 16
        absl::StatusOr<InputEncoder> enc = InputEncoder::Create(p);
        ASSERT_TRUE(enc.ok()) << enc.status();
        std::uniform_int_distribution<uint64_t> examples(1, 2 * p.max_weight);
        std::vector<std::vector<uint32_t>> encodings;
        uint64_t expected = 0;
        for (int c = 0; c < cohort; ++c) {
          const uint64_t n = examples(rng);
          expected += std::min<uint64_t>(n, p.max_weight);
          absl::StatusOr<EncodedUpdate> e =
              enc->Encode(std::vector<float>{0.1f}, n, 0.5);
          ASSERT_TRUE(e.ok()) << e.status();
          encodings.push_back(std::move(e->values));
        }
        absl::StatusOr<DecodedAggregate> dec =
            enc->Decode(SumOf(*enc, encodings));
        ASSERT_TRUE(dec.ok()) << dec.status();
        EXPECT_EQ(dec->total_examples, expected)
            << "b=" << modulus_bits << " cohort=" << cohort << " seed=" << seed;
        EXPECT_EQ(dec->total_weight,
                  static_cast<double>(expected) / p.max_weight);
      }
    }
  }
}

// The tightest cohort for a limb width is a power of two: 64 clients all at
// the largest count put 64 * (2^9 - 1) = 32704 < 2^15 into every limb.
TEST(InputEncoderTest, CountLimbSumsNeverWrapAtTheBoundaryCohort) {
  for (int cohort : {64, 65, 128}) {
    EncodingParameters p = Params();
    p.modulus_bits = 16;
    p.quantization_bits = LargestQuantizationBits(16, cohort);
    p.max_clients = cohort;
    p.max_weight = (1 << 18) - 1;  // every limb bit set at full count
    absl::StatusOr<InputEncoder> enc = InputEncoder::Create(p);
    ASSERT_TRUE(enc.ok()) << enc.status();
    std::vector<std::vector<uint32_t>> encodings;
    for (int c = 0; c < cohort; ++c) {
      absl::StatusOr<EncodedUpdate> e = enc->Encode(
          std::vector<float>{-1.0f, 1.0f}, 1 << 20, kMaxEncodedLoss);
      ASSERT_TRUE(e.ok());
      encodings.push_back(std::move(e->values));
    }
    absl::StatusOr<DecodedAggregate> dec = enc->Decode(SumOf(*enc, encodings));
    ASSERT_TRUE(dec.ok()) << dec.status();
    EXPECT_EQ(dec->total_examples, static_cast<uint64_t>(cohort) * p.max_weight)
        << cohort;
    EXPECT_NEAR(dec->weighted_mean[0], -1.0, 1e-6) << cohort;
    EXPECT_NEAR(dec->weighted_mean[1], 1.0, 1e-6) << cohort;
    EXPECT_NEAR(dec->mean_loss, kMaxEncodedLoss, 1e-3) << cohort;
  }
}

TEST(InputEncoderTest, DecodeRefusesAnExampleCountNoHonestCohortProduces) {
  absl::StatusOr<InputEncoder> enc =
      InputEncoder::Create(Params());  // 100 x 1000
  ASSERT_TRUE(enc.ok());
  absl::StatusOr<DecodedAggregate> negative =
      enc->Decode(std::vector<uint32_t>{5, 0, 0xffffffffu});
  EXPECT_TRUE(absl::IsInvalidArgument(negative.status())) << negative.status();
  absl::StatusOr<DecodedAggregate> too_many =
      enc->Decode(std::vector<uint32_t>{5, 0, 100 * 1000 + 1});
  EXPECT_TRUE(absl::IsInvalidArgument(too_many.status())) << too_many.status();
  EXPECT_TRUE(enc->Decode(std::vector<uint32_t>{5, 0, 100 * 1000}).ok());
}

TEST(InputEncoderTest, NonWholeMaxWeightIsRefused) {
  EncodingParameters p = Params();
  p.max_weight = 10.5;
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(p);
  EXPECT_TRUE(absl::IsInvalidArgument(enc.status()));
  EXPECT_NE(std::string(enc.status().message()).find("secagg.max_weight"),
            std::string::npos);
}

TEST(ChooseCohortEncodingTest, FitsTheCohortAndItsLargestDeclaredSite) {
  EncodingParameters configured;  // b = 32, q = 20, c = 1, M = 10000
  absl::StatusOr<EncodingParameters> p =
      ChooseCohortEncoding(configured, 3, 235);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->max_clients, 3);
  EXPECT_EQ(p->quantization_bits, 30);
  EXPECT_EQ(p->max_weight, 256);  // the power of two at or above 235
  EXPECT_EQ(p->modulus_bits, 32);
  EXPECT_EQ(p->clip_range, 1.0);

  // max_weight is a cap: bigger sites still earn weight 1 at it.
  p = ChooseCohortEncoding(configured, 3, 60000);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->max_weight, 10000);
  // No declaration (0) means weight 1 per client.
  p = ChooseCohortEncoding(configured, 3, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->max_weight, 1);

  // One count limb at b = 16 and 3 clients carries 13 bits.
  configured.modulus_bits = 16;
  configured.quantization_bits = 12;
  configured.max_weight = 1e6;
  p = ChooseCohortEncoding(configured, 3, 60000, /*max_count_limbs=*/1);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->quantization_bits, 14);
  EXPECT_EQ(p->max_weight, 8191);
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(*p);
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(enc->count_limbs(), 1);
  p = ChooseCohortEncoding(configured, 3, 60000);  // limbs unlimited
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->max_weight, 65536);
  p = ChooseCohortEncoding(configured, 3, 65536);  // powers of two stay
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->max_weight, 65536);
}

TEST(ChooseCohortEncodingTest,
     ConfiguredQuantizationBitsAreAFloorTheCohortMustMeet) {
  EncodingParameters configured;
  configured.quantization_bits = 30;
  EXPECT_TRUE(ChooseCohortEncoding(configured, 3, 100).ok());
  absl::StatusOr<EncodingParameters> refused =
      ChooseCohortEncoding(configured, 5, 100);
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status()));
  EXPECT_NE(
      std::string(refused.status().message()).find("secagg.quantization_bits"),
      std::string::npos);
}

// Three 220-row sites fine-tuning at a small learning rate: every coordinate
// of every update has magnitude 1e-5..1e-3 (log-uniform), the sites share a
// direction plus their own noise. The relative L2 error of the decoded secure
// mean against the plaintext weighted mean (double) over the model.
struct SmallSites {
  std::vector<std::vector<float>> updates;
  std::vector<uint64_t> rows;
  std::vector<double> mean;  // plaintext example-weighted mean
};

SmallSites MakeSmallSites(uint32_t seed, size_t d) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> log_magnitude(std::log(1e-5),
                                                       std::log(1e-3));
  std::bernoulli_distribution flip(0.2);
  SmallSites s;
  s.rows = {220, 220, 220};
  std::vector<double> direction(d);
  for (double& x : direction)
    x = (flip(rng) ? -1 : 1) * std::exp(log_magnitude(rng));
  double total = 0;
  s.mean.assign(d, 0.0);
  for (uint64_t n : s.rows) {
    std::vector<float> u(d);
    for (size_t j = 0; j < d; ++j) {
      const double own = std::exp(log_magnitude(rng));
      u[j] = static_cast<float>(
          flip(rng) ? -own : direction[j] * own / std::abs(direction[j]));
      s.mean[j] += static_cast<double>(n) * u[j];
    }
    total += static_cast<double>(n);
    s.updates.push_back(std::move(u));
  }
  for (double& x : s.mean) x /= total;
  return s;
}

// Returns the relative L2 error; fills `bound` with the encoder's bound.
double SecureMeanRelativeError(const EncodingParameters& p, const SmallSites& s,
                               QuantizationErrorBound* bound) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(p);
  EXPECT_TRUE(enc.ok()) << enc.status();
  std::vector<std::vector<uint32_t>> encodings;
  for (size_t i = 0; i < s.updates.size(); ++i) {
    absl::StatusOr<EncodedUpdate> e = enc->Encode(s.updates[i], s.rows[i], 0.7);
    EXPECT_TRUE(e.ok());
    encodings.push_back(std::move(e->values));
  }
  absl::StatusOr<DecodedAggregate> dec = enc->Decode(SumOf(*enc, encodings));
  EXPECT_TRUE(dec.ok()) << dec.status();
  EXPECT_EQ(dec->total_examples, 660u);
  *bound =
      enc->BoundQuantizationError(*dec, static_cast<int>(s.updates.size()));
  double err2 = 0, norm2 = 0;
  for (size_t j = 0; j < s.mean.size(); ++j) {
    const double diff = dec->weighted_mean[j] - s.mean[j];
    EXPECT_LT(std::abs(diff), bound->max_abs_error + 1e-7 * std::abs(s.mean[j]))
        << j;
    err2 += diff * diff;
    norm2 += s.mean[j] * s.mean[j];
  }
  return std::sqrt(err2 / norm2);
}

TEST(InputEncoderPropertyTest,
     SmallSitesWithSmallUpdatesDecodeWithinOnePercent) {
  constexpr size_t kD = 2000;
  constexpr double kAllowed = 0.01;
  EncodingParameters
      configured;  // the shipped defaults: b = 32, q = 20, M = 10000
  absl::StatusOr<EncodingParameters> chosen =
      ChooseCohortEncoding(configured, 3, 220, 1);
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EncodingParameters old_fixed = configured;  // what every round used before
  old_fixed.max_clients = 3;
  double worst_new = 0, best_old = 1e300;
  for (uint32_t seed = 0; seed < 30; ++seed) {
    const SmallSites sites = MakeSmallSites(seed, kD);
    QuantizationErrorBound bound;
    const double error = SecureMeanRelativeError(*chosen, sites, &bound);
    EXPECT_LT(error, kAllowed) << "seed " << seed;
    EXPECT_LE(error, bound.max_relative_error)
        << "the bound does not hold, seed " << seed;
    EXPECT_LT(bound.max_relative_error, kAllowed) << "seed " << seed;
    worst_new = std::max(worst_new, error);

    QuantizationErrorBound old_bound;
    const double old_error =
        SecureMeanRelativeError(old_fixed, sites, &old_bound);
    EXPECT_GT(old_error, kAllowed) << "seed " << seed;
    EXPECT_LE(old_error, old_bound.max_relative_error) << "seed " << seed;
    EXPECT_GT(old_bound.max_relative_error, kAllowed) << "seed " << seed;
    best_old = std::min(best_old, old_error);
  }
  RecordProperty("worst_relative_error_per_round_encoding",
                 std::to_string(worst_new));
  RecordProperty("best_relative_error_fixed_max_weight_10000_q20",
                 std::to_string(best_old));
  std::printf(
      "relative L2 error over 30 seeds: per-round encoding <= %.3g, "
      "fixed max_weight=10000 q=20 >= %.3g\n",
      worst_new, best_old);
}

TEST(InputEncoderTest, ErrorBoundIsInfiniteForAZeroMeanAndScalesWithInputs) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(Params());
  ASSERT_TRUE(enc.ok());
  DecodedAggregate zero;
  zero.weighted_mean = FlatVector(4);
  zero.total_weight = 2;
  zero.total_examples = 2000;
  QuantizationErrorBound b = enc->BoundQuantizationError(zero, 3);
  EXPECT_TRUE(std::isinf(b.max_relative_error));
  EXPECT_TRUE(std::isinf(b.rms_relative_error));
  // n / (scale * Σw) with scale = 2^19 - 1.
  EXPECT_DOUBLE_EQ(b.max_abs_error, 3 / (((1 << 19) - 1.0) * 2));
  EXPECT_DOUBLE_EQ(enc->BoundQuantizationError(zero, 6).max_abs_error,
                   2 * b.max_abs_error);
}

}  // namespace
}  // namespace fedlearn
