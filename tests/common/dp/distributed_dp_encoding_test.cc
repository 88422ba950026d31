#include "common/dp/distributed_dp_encoding.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

DistributedDpParameters Params(size_t dimension, int bits, double noise,
                               int n_min, int n_max) {
  DistributedDpParameters p;
  p.dimension = dimension;
  p.modulus_bits = bits;
  p.clip_norm = 1.0;
  p.noise_stddev = noise;
  p.min_clients = n_min;
  p.max_clients = n_max;
  for (size_t i = 0; i < p.rotation_seed.size(); ++i) {
    p.rotation_seed[i] = static_cast<uint8_t>(3 * i + 1);
  }
  return p;
}

DistributedDpEncoder MakeEncoder(const DistributedDpParameters& p) {
  absl::StatusOr<DistributedDpEncoder> e = DistributedDpEncoder::Create(p);
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

// Test inputs (not noise): a random direction scaled to L2 norm `norm`.
std::vector<float> RandomUpdate(size_t n, double norm, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> v(n);
  double sq = 0;
  for (double& x : v) {
    x = normal(gen);
    sq += x * x;
  }
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(v[i] * norm / std::sqrt(sq));
  }
  return out;
}

int64_t Centered(uint32_t v, int bits) {
  const int64_t m = int64_t{1} << bits;
  return v >= m / 2 ? int64_t{v} - m : int64_t{v};
}

void AddMod(std::vector<uint32_t>& acc, const std::vector<uint32_t>& x,
            int bits) {
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  for (size_t j = 0; j < acc.size(); ++j) {
    acc[j] = static_cast<uint32_t>((uint64_t{acc[j]} + x[j]) & mask);
  }
}

double Distance(const std::vector<float>& a, const std::vector<double>& b) {
  double sq = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = a[i] - b[i];
    sq += e * e;
  }
  return std::sqrt(sq);
}

// The header's sizing formulas, re-derived here from the documentation.
double Delta2Sq(double c, double d, double beta) {
  const double r = std::sqrt(2 * std::log(1 / beta));
  return std::min(c * c + d / 4 + r * (c + std::sqrt(d) / 2),
                  (c + std::sqrt(d)) * (c + std::sqrt(d)));
}

// k tau_S + n_max of (R1)-(R2).
double RangeUsed(const DistributedDpParameters& p, double c, double d,
                 double v) {
  const double n = p.max_clients;
  return p.range_stddevs * std::sqrt(n * n * c * c / d + n * v) + n;
}

// Two-sided 99.9% interval of chi-square with n degrees of freedom by the
// Wilson-Hilferty approximation (relative error < 1e-4 for n >= 1000):
// n (1 - 2/(9n) -+ z sqrt(2/(9n)))^3, z = 3.2905 (the 0.9995 normal quantile).
std::pair<double, double> ChiSquare999(double n) {
  const double z = 3.29052673;
  const double a = 2 / (9 * n);
  return {n * std::pow(1 - a - z * std::sqrt(a), 3),
          n * std::pow(1 - a + z * std::sqrt(a), 3)};
}

TEST(DistributedDpEncoderTest, ReportsTheDesignedSensitivityAndNoise) {
  // The realistic setting of the benchmark: z = 1, C = 1, n_min = 100,
  // n_max = 200, b = 32, D = 7850 (logistic regression on MNIST).
  const DistributedDpParameters p = Params(7850, 32, 1.0, 100, 200);
  const DistributedDpEncoder e = MakeEncoder(p);
  EXPECT_EQ(e.encoded_length(), 8192u);
  EXPECT_EQ(e.dimension(), 7850u);
  const double c = p.clip_norm / e.granularity();
  EXPECT_NEAR(e.scaled_clip_norm(), c, 1e-9 * c);
  EXPECT_GE(c, std::sqrt(8192.0));
  EXPECT_NEAR(e.l2_sensitivity() * e.l2_sensitivity(),
              Delta2Sq(c, 8192, p.beta), 1e-12 * c * c);
  // (N1): sqrt(n_min) sigma_int / Delta_2 = z, rounded up only by the
  // sampler's representation of sigma^2.
  const double z = p.noise_stddev / p.clip_norm;
  EXPECT_GE(e.effective_noise_multiplier(), z);
  EXPECT_LE(e.effective_noise_multiplier(), z * (1 + 1e-9));
  EXPECT_NEAR(
      e.effective_noise_multiplier(),
      std::sqrt(p.min_clients * e.client_noise_variance()) / e.l2_sensitivity(),
      1e-15);
  // In update units the sum of n_min clients' noise is at least the target.
  EXPECT_GE(p.min_clients * e.client_noise_variance() * e.granularity() *
                e.granularity(),
            p.noise_stddev * p.noise_stddev);

  DistributedDpParameters quiet = p;
  quiet.noise_stddev = 0;
  const DistributedDpEncoder q = MakeEncoder(quiet);
  EXPECT_EQ(q.client_noise_variance(), 0.0);
  EXPECT_EQ(q.effective_noise_multiplier(), 0.0);
}

TEST(DistributedDpEncoderTest, GranularityIsTheFinestThatFitsTheModulus) {
  struct Case {
    size_t dim;
    int bits;
    double noise;
    int n_min, n_max;
  };
  for (const Case& k :
       {Case{7850, 32, 1.0, 100, 200}, Case{61706, 32, 1.0, 100, 200},
        Case{1000, 16, 0.0, 1, 16}, Case{1000, 20, 0.5, 4, 10},
        Case{3000, 24, 2.0, 8, 8}, Case{1000000, 32, 1.0, 100, 200}}) {
    SCOPED_TRACE(::testing::Message() << k.dim << " b=" << k.bits);
    const DistributedDpParameters p =
        Params(k.dim, k.bits, k.noise, k.n_min, k.n_max);
    const DistributedDpEncoder e = MakeEncoder(p);
    const double d = static_cast<double>(e.encoded_length());
    const double limit = std::ldexp(1.0, k.bits - 1) - 1;
    const double c = p.clip_norm / e.granularity();
    // (R2) holds with the variance actually sampled.
    EXPECT_LE(RangeUsed(p, c, d, e.client_noise_variance()), limit);
    // And a 1e-6 finer granularity would break it, or the per-client noise
    // sits at its 2^24 cap.
    const double finer = c * (1 + 1e-6);
    const double z = p.noise_stddev / p.clip_norm;
    const double sigma =
        z * std::sqrt(Delta2Sq(finer, d, p.beta) / p.min_clients);
    const bool at_cap = sigma > DistributedDpEncoder::kMaxClientNoiseStddev;
    EXPECT_TRUE(at_cap || RangeUsed(p, finer, d, sigma * sigma) > limit);
  }
}

TEST(DistributedDpEncoderTest, NoiselessSumDecodesWithinTheRoundingBound) {
  // Header bound: ||decoded - sum x_i||_2 <= n gamma sqrt(d) (each client's
  // rounding error is < sqrt(d) in norm). The statistical check catches a
  // biased rounding: with unbiased coins E||sum_i e_i||^2 <= n d / 4 = 4096
  // (integer units) with sd ~ 180, so 1.5 n d / 4 = 6144 is > 10 sd away
  // (the conditioning's pull towards y, < 1 per client along y, adds < 256),
  // while always rounding down would give ~ n^2 d / 3 = 87000.
  constexpr int kBits = 16;
  constexpr int kClients = 16;
  const DistributedDpParameters p = Params(1000, kBits, 0.0, 1, kClients);
  const DistributedDpEncoder e = MakeEncoder(p);
  const double gamma = e.granularity();
  const double d = static_cast<double>(e.encoded_length());
  NoiseSource rng = NoiseSource::FromSeedForTesting(1);
  std::vector<uint32_t> sum(e.encoded_length(), 0);
  std::vector<double> expected(p.dimension, 0.0);
  for (int i = 0; i < kClients; ++i) {
    const std::vector<float> x = RandomUpdate(p.dimension, 1.0, 100 + i);
    for (size_t j = 0; j < x.size(); ++j) expected[j] += x[j];
    absl::StatusOr<std::vector<uint32_t>> enc = e.Encode(x, rng);
    ASSERT_TRUE(enc.ok()) << enc.status();
    AddMod(sum, *enc, kBits);
  }
  absl::StatusOr<std::vector<float>> decoded = e.DecodeSum(sum);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const double err = Distance(*decoded, expected);
  EXPECT_LE(err, kClients * gamma * std::sqrt(d) + 1e-5);
  EXPECT_LE(err * err / (gamma * gamma), 1.5 * kClients * d / 4);
  EXPECT_GT(err, 0.0);  // it really was rounded
  RecordProperty(
      "rounding_error_sq_over_nd4",
      std::to_string(err * err / (gamma * gamma) / (kClients * d / 4)));
}

TEST(DistributedDpEncoderTest, ConditionalRoundingKeepsEveryEncodingInDelta2) {
  // b = 12, one client: c ~ 1.1e4, so Delta_2^2 = c^2 + d/4 + (c + 16)
  // leaves about one standard deviation of 2<y, e> above c^2: plain
  // stochastic rounding exceeds Delta_2 in a visible fraction of draws
  // (about 10-20% here; P[none of 300] < 1e-13 at 10%), the encoder never.
  constexpr int kBits = 12;
  const DistributedDpParameters p = Params(1000, kBits, 0.0, 1, 1);
  const DistributedDpEncoder e = MakeEncoder(p);
  const double bound_sq = e.l2_sensitivity() * e.l2_sensitivity();
  const size_t d = e.encoded_length();
  std::mt19937_64 coins(7);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  int plain_violations = 0;
  for (uint32_t seed = 0; seed < 300; ++seed) {
    const std::vector<float> x = RandomUpdate(p.dimension, 1.0, seed);
    NoiseSource rng = NoiseSource::FromSeedForTesting(1000 + seed);
    absl::StatusOr<std::vector<uint32_t>> enc = e.Encode(x, rng);
    ASSERT_TRUE(enc.ok()) << enc.status();
    double sq = 0;
    for (uint32_t v : *enc) {
      const double r = static_cast<double>(Centered(v, kBits));
      sq += r * r;
    }
    ASSERT_LE(sq, bound_sq) << "seed " << seed;

    std::vector<double> y(d);
    ASSERT_TRUE(e.rotation().Rotate(x, absl::MakeSpan(y)).ok());
    double plain_sq = 0;
    for (double v : y) {
      const double s = v / e.granularity();
      const double f = std::floor(s);
      const double r = f + (uniform(coins) < s - f ? 1 : 0);
      plain_sq += r * r;
    }
    plain_violations += plain_sq > bound_sq;
  }
  RecordProperty("plain_rounding_violations_of_300", plain_violations);
  EXPECT_GT(plain_violations, 0) << "the bound never binds: test is vacuous";
}

TEST(DistributedDpEncoderTest, AlignedSumsOfMaxClientsDoNotWrap) {
  // n_max clients sending the SAME update at the clip norm (the worst case
  // of (R1)) in several directions and under several rotation seeds decode
  // within the rounding bound; 8 n_max of them (outside the design) wrap,
  // which shows the check would see a wrap.
  constexpr int kBits = 16;
  constexpr int kMaxClients = 32;
  constexpr size_t kDim = 1000;
  std::vector<std::vector<float>> directions;
  directions.push_back(std::vector<float>(kDim, 1.0f / std::sqrt(1000.0f)));
  directions.push_back(std::vector<float>(kDim, 0.0f));
  directions.back()[0] = 1.0f;
  directions.push_back(RandomUpdate(kDim, 1.0, 5));
  std::vector<float> alternating(kDim);
  for (size_t i = 0; i < kDim; ++i) {
    alternating[i] = (i % 2 == 0 ? 1.0f : -1.0f) / std::sqrt(1000.0f);
  }
  directions.push_back(alternating);

  for (uint8_t seed_byte : {uint8_t{1}, uint8_t{2}, uint8_t{3}}) {
    DistributedDpParameters p = Params(kDim, kBits, 0.0, 1, kMaxClients);
    p.rotation_seed.fill(seed_byte);
    const DistributedDpEncoder e = MakeEncoder(p);
    const double bound =
        kMaxClients * e.granularity() * std::sqrt(double(e.encoded_length())) +
        1e-4;
    NoiseSource rng = NoiseSource::FromSeedForTesting(seed_byte);
    for (size_t k = 0; k < directions.size(); ++k) {
      SCOPED_TRACE(::testing::Message()
                   << "seed " << int{seed_byte} << " direction " << k);
      std::vector<uint32_t> sum(e.encoded_length(), 0);
      std::vector<double> expected(kDim, 0.0);
      for (int i = 0; i < 8 * kMaxClients; ++i) {
        if (i == kMaxClients) {
          absl::StatusOr<std::vector<float>> dec = e.DecodeSum(sum);
          ASSERT_TRUE(dec.ok());
          EXPECT_LE(Distance(*dec, expected), bound);
        }
        absl::StatusOr<std::vector<uint32_t>> enc =
            e.Encode(directions[k], rng);
        ASSERT_TRUE(enc.ok()) << enc.status();
        AddMod(sum, *enc, kBits);
        for (size_t j = 0; j < kDim; ++j) expected[j] += directions[k][j];
      }
      // 8 n_max aligned clients: the signal is 8x the scale (R2) was sized
      // for (k = 6). For the spike every coordinate is exactly
      // 8 n_max c / sqrt(d) > 2^(b-1), for the other directions about half
      // the coordinates exceed the range, so the decode is far off.
      absl::StatusOr<std::vector<float>> over = e.DecodeSum(sum);
      ASSERT_TRUE(over.ok());
      EXPECT_GT(Distance(*over, expected), 8 * bound);
    }
  }
}

// The privacy claim: n_min clients' noise sums to the designed level. Zero
// updates encode to pure noise (rounding 0 is exact), so the decoded sum is
// the rotated-back sum of n_min i.i.d. N_Z(0, v) vectors times gamma: per
// coordinate variance n_min v gamma^2, i.e. noise_stddev^2 times
// (Delta_2 / c)^2 (v / sigma_int^2) by (N1); the test recomputes it from the
// header's formulas, not from the encoder's accessors alone. The sum of
// squares over N = D x rounds coordinates, divided by that variance, must
// fall in the two-sided 99.9% interval of chi-square(N).
TEST(DistributedDpEncoderTest, DistributedNoiseSumHasTheDesignedVariance) {
  struct Case {
    int bits;
    double noise;
    int n_min, n_max, rounds;
  };
  // b = 32: sigma_int at its 2^24 cap; b = 20: sigma_int ~ 2e3, uncapped.
  for (const Case& k : {Case{32, 1.0, 8, 16, 16}, Case{20, 0.7, 6, 12, 16}}) {
    SCOPED_TRACE(k.bits);
    const DistributedDpParameters p =
        Params(3000, k.bits, k.noise, k.n_min, k.n_max);
    const DistributedDpEncoder e = MakeEncoder(p);
    const double d = static_cast<double>(e.encoded_length());
    const double c = p.clip_norm / e.granularity();
    const double z = p.noise_stddev / p.clip_norm;
    const double sigma_int =
        std::min(z * std::sqrt(Delta2Sq(c, d, p.beta) / p.min_clients),
                 DistributedDpEncoder::kMaxClientNoiseStddev);
    // The sampler rounds sigma^2 up by < 1e-9 relative.
    EXPECT_NEAR(e.client_noise_variance(), sigma_int * sigma_int,
                1e-9 * sigma_int * sigma_int);
    EXPECT_GE(e.client_noise_variance(), sigma_int * sigma_int);
    const double designed = p.min_clients * e.client_noise_variance() *
                            e.granularity() * e.granularity();
    EXPECT_GE(designed, p.noise_stddev * p.noise_stddev);

    NoiseSource rng = NoiseSource::FromSeedForTesting(42 + k.bits);
    const std::vector<float> zero(p.dimension, 0.0f);
    double sum_sq = 0;
    double count = 0;
    for (int round = 0; round < k.rounds; ++round) {
      std::vector<uint32_t> sum(e.encoded_length(), 0);
      for (int i = 0; i < p.min_clients; ++i) {
        absl::StatusOr<std::vector<uint32_t>> enc = e.Encode(zero, rng);
        ASSERT_TRUE(enc.ok()) << enc.status();
        AddMod(sum, *enc, k.bits);
      }
      absl::StatusOr<std::vector<float>> decoded = e.DecodeSum(sum);
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      for (float v : *decoded) {
        sum_sq += static_cast<double>(v) * v;
        count += 1;
      }
    }
    const auto [lo, hi] = ChiSquare999(count);
    const double statistic = sum_sq / designed;
    RecordProperty("variance_ratio_b" + std::to_string(k.bits),
                   std::to_string(statistic / count));
    EXPECT_GE(statistic, lo) << "variance ratio " << statistic / count;
    EXPECT_LE(statistic, hi) << "variance ratio " << statistic / count;
  }
}

TEST(DistributedDpEncoderTest, EncodingIsReproducibleFromTheNoiseSeed) {
  const DistributedDpParameters p = Params(500, 32, 1.0, 2, 4);
  const DistributedDpEncoder e = MakeEncoder(p);
  const std::vector<float> x = RandomUpdate(500, 0.5, 3);
  NoiseSource a = NoiseSource::FromSeedForTesting(9);
  NoiseSource b = NoiseSource::FromSeedForTesting(9);
  NoiseSource c = NoiseSource::FromSeedForTesting(10);
  absl::StatusOr<std::vector<uint32_t>> ea = e.Encode(x, a);
  absl::StatusOr<std::vector<uint32_t>> eb = e.Encode(x, b);
  absl::StatusOr<std::vector<uint32_t>> ec = e.Encode(x, c);
  ASSERT_TRUE(ea.ok() && eb.ok() && ec.ok());
  EXPECT_EQ(*ea, *eb);
  EXPECT_NE(*ea, *ec);
}

TEST(DistributedDpEncoderTest, CreateRefusesBadParametersNamingTheKnob) {
  const DistributedDpParameters good = Params(1000, 32, 1.0, 10, 20);
  ASSERT_TRUE(DistributedDpEncoder::Create(good).ok());
  struct Bad {
    std::string knob;
    DistributedDpParameters p;
  };
  std::vector<Bad> bad;
  auto with = [&](std::string knob, auto edit) {
    DistributedDpParameters p = good;
    edit(p);
    bad.push_back({knob, p});
  };
  with("dimension", [](auto& p) { p.dimension = 0; });
  with("modulus_bits", [](auto& p) { p.modulus_bits = 1; });
  with("modulus_bits", [](auto& p) { p.modulus_bits = 33; });
  with("clip_norm", [](auto& p) { p.clip_norm = 0; });
  with("clip_norm", [](auto& p) { p.clip_norm = -1; });
  with("clip_norm", [](auto& p) { p.clip_norm = std::nan(""); });
  with("clip_norm", [](auto& p) { p.clip_norm = INFINITY; });
  with("noise_stddev", [](auto& p) { p.noise_stddev = -0.1; });
  with("noise_stddev", [](auto& p) { p.noise_stddev = std::nan(""); });
  with("min_clients", [](auto& p) { p.min_clients = 0; });
  with("max_clients", [](auto& p) { p.max_clients = 9; });
  with("beta", [](auto& p) { p.beta = 0; });
  with("beta", [](auto& p) { p.beta = 1; });
  with("range_stddevs", [](auto& p) { p.range_stddevs = 0; });
  // Too few bits: at b = 8 the sum of 20 clients in d = 1024 leaves
  // C / gamma far below sqrt(d) = 32.
  with("modulus_bits", [](auto& p) { p.modulus_bits = 8; });
  // z = 1 spread over 4000 clients at b = 16: c ~ 38 and sigma_int ~ 0.9
  // integer units, where the sum of discrete Gaussians is not accountable
  // as one Gaussian (KLS21's tau d / 2 ~ 1e4 against 1 / z^2 = 1).
  with("noise_stddev", [](auto& p) {
    p.modulus_bits = 16;
    p.min_clients = 4000;
    p.max_clients = 4000;
  });
  // b = 16 fits 20 clients without noise but not 20000.
  with("max_clients", [](auto& p) {
    p.modulus_bits = 16;
    p.noise_stddev = 0;
    p.max_clients = 20000;
  });
  for (const Bad& b : bad) {
    absl::StatusOr<DistributedDpEncoder> e = DistributedDpEncoder::Create(b.p);
    ASSERT_FALSE(e.ok()) << b.knob;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(e.status().message()), HasSubstr(b.knob));
  }
}

TEST(DistributedDpEncoderTest, EncodeAndDecodeRefuseBadInputs) {
  const DistributedDpParameters p = Params(100, 16, 0.0, 1, 4);
  const DistributedDpEncoder e = MakeEncoder(p);
  NoiseSource rng = NoiseSource::FromSeedForTesting(3);
  EXPECT_EQ(e.Encode(std::vector<float>(99), rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> x = RandomUpdate(100, 1.0, 1);
  // Within the 1e-6 tolerance: accepted (and projected onto the ball).
  for (float& v : x) v *= 1.0f + 5e-7f;
  EXPECT_TRUE(e.Encode(x, rng).ok());
  for (float& v : x) v *= 1.00001f;
  EXPECT_EQ(e.Encode(x, rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> nan(100, 0.0f);
  nan[7] = std::nanf("");
  EXPECT_EQ(e.Encode(nan, rng).status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(e.DecodeSum(std::vector<uint32_t>(100)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<uint32_t> sum(128, 0);
  sum[3] = 1u << 16;  // not a value mod 2^16
  EXPECT_EQ(e.DecodeSum(sum).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedlearn
