#include "common/dp/randomized_hadamard.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

std::array<uint8_t, 32> SeedFrom(uint8_t first) {
  std::array<uint8_t, 32> seed{};
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = first + i;
  return seed;
}

RandomizedHadamard MakeRotation(size_t dimension, uint8_t seed_byte) {
  const std::array<uint8_t, 32> seed = SeedFrom(seed_byte);
  absl::StatusOr<RandomizedHadamard> r =
      RandomizedHadamard::Create(dimension, seed);
  EXPECT_TRUE(r.ok()) << r.status();
  return *std::move(r);
}

// Test inputs only (not noise): a reproducible vector with mixed signs and
// scales, so a sign or index mistake cannot cancel out.
std::vector<float> TestVector(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(gen);
  return v;
}

double Norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

double Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

TEST(NextPowerOfTwoTest, RoundsUpToAPowerOfTwo) {
  EXPECT_EQ(NextPowerOfTwo(0), 1u);
  EXPECT_EQ(NextPowerOfTwo(1), 1u);
  EXPECT_EQ(NextPowerOfTwo(2), 2u);
  EXPECT_EQ(NextPowerOfTwo(3), 4u);
  EXPECT_EQ(NextPowerOfTwo(4), 4u);
  EXPECT_EQ(NextPowerOfTwo(7850), 8192u);
  EXPECT_EQ(NextPowerOfTwo(61706), 65536u);
  EXPECT_EQ(NextPowerOfTwo(1000000), 1048576u);
  EXPECT_EQ(NextPowerOfTwo(size_t{1} << 40), size_t{1} << 40);
}

TEST(RandomizedHadamardTest, KnownAnswerForFourCoordinatesWithFixedSigns) {
  // U x = (1/2) H_4 diag(+1, -1, +1, +1) (1, 2, 3, 4)
  //     = (1/2) H_4 (1, -2, 3, 4) = (1/2) (6, 2, -8, 4) = (3, 1, -4, 2).
  const std::vector<int> signs = {1, -1, 1, 1};
  absl::StatusOr<RandomizedHadamard> r =
      RandomizedHadamard::FromSignsForTesting(4, signs);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::vector<float> x = {1, 2, 3, 4};
  std::vector<double> y(4);
  ASSERT_TRUE(r->Rotate(x, absl::MakeSpan(y)).ok());
  EXPECT_EQ(y, (std::vector<double>{3, 1, -4, 2}));

  std::vector<float> back(4);
  ASSERT_TRUE(r->InverseRotate(absl::MakeSpan(y), absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, x);
}

TEST(RandomizedHadamardTest, KnownAnswerPadsThreeCoordinatesToFour) {
  // (1, 2, 3) is padded to (1, 2, 3, 0); all signs +1:
  // (1/2) H_4 (1, 2, 3, 0) = (1/2) (6, 2, 0, -4).
  const std::vector<int> signs = {1, 1, 1, 1};
  absl::StatusOr<RandomizedHadamard> r =
      RandomizedHadamard::FromSignsForTesting(3, signs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->padded_dimension(), 4u);
  std::vector<double> y(4);
  ASSERT_TRUE(r->Rotate(std::vector<float>{1, 2, 3}, absl::MakeSpan(y)).ok());
  EXPECT_EQ(y, (std::vector<double>{3, 1, 0, -2}));
}

// U = (1/sqrt(d)) H D_s against the definition H[j][k] = (-1)^popcount(j&k),
// by the O(d^2) matrix product.
TEST(RandomizedHadamardTest, MatchesTheNaiveMatrixProduct) {
  for (size_t d : {size_t{8}, size_t{64}}) {
    SCOPED_TRACE(d);
    const RandomizedHadamard r = MakeRotation(d, 7);
    const std::vector<float> x = TestVector(d, 11);
    std::vector<double> fast(d);
    ASSERT_TRUE(r.Rotate(x, absl::MakeSpan(fast)).ok());
    for (size_t j = 0; j < d; ++j) {
      double naive = 0;
      for (size_t k = 0; k < d; ++k) {
        const int h = (__builtin_popcountll(j & k) % 2 == 0) ? 1 : -1;
        naive += h * r.sign(k) * static_cast<double>(x[k]);
      }
      naive /= std::sqrt(static_cast<double>(d));
      EXPECT_NEAR(fast[j], naive, 1e-12) << "coordinate " << j;
    }
  }
}

TEST(RandomizedHadamardTest, PreservesTheNormAndInvertsAcrossSizes) {
  // Sizes below, at and above the transform's cache block (2^11), and not
  // powers of two, so padding and both loop nests are exercised.
  for (size_t dim : {size_t{1}, size_t{5}, size_t{1000}, size_t{2048},
                     size_t{7850}, size_t{65536}}) {
    SCOPED_TRACE(dim);
    const RandomizedHadamard r = MakeRotation(dim, 3);
    const std::vector<float> x = TestVector(dim, 5);
    std::vector<double> y(r.padded_dimension());
    ASSERT_TRUE(r.Rotate(x, absl::MakeSpan(y)).ok());
    EXPECT_NEAR(Norm(y), Norm(x), 1e-12 * Norm(x));

    std::vector<float> back(dim);
    ASSERT_TRUE(r.InverseRotate(absl::MakeSpan(y), absl::MakeSpan(back)).ok());
    for (size_t i = 0; i < dim; ++i) {
      ASSERT_NEAR(back[i], x[i], 1e-6 * (1 + std::fabs(x[i]))) << i;
    }
  }
}

TEST(RandomizedHadamardTest, FlattensASpikeToEqualMagnitudes) {
  // U e_k has every coordinate equal to +-1/sqrt(d): the rotation spreads a
  // concentrated update over all coordinates, which is why it is used.
  const RandomizedHadamard r = MakeRotation(1024, 9);
  std::vector<float> spike(1024, 0.0f);
  spike[517] = 1.0f;
  std::vector<double> y(1024);
  ASSERT_TRUE(r.Rotate(spike, absl::MakeSpan(y)).ok());
  for (double v : y) EXPECT_NEAR(std::fabs(v), 1.0 / 32.0, 1e-15);
}

// The sign derivation is part of the protocol: the server and every client
// must derive the same signs from the same seed. Expected words computed
// independently (Python `cryptography`): key = HKDF-SHA256(ikm = bytes 00..1f,
// salt = "fedlearn/secagg/prg/v1", info = "fedlearn/dp/rotation/v1", 32),
// AES-256-CTR from a zero counter block, keystream words 0 and 1
// little-endian; sign i is -1 iff bit i of that 64-bit string is set.
TEST(RandomizedHadamardTest, SignDerivationMatchesAnIndependentComputation) {
  const RandomizedHadamard r = MakeRotation(64, 0);
  const uint32_t expected[2] = {0xde4236b1u, 0x7e428d54u};
  for (size_t i = 0; i < 64; ++i) {
    const bool bit = ((expected[i / 32] >> (i % 32)) & 1) != 0;
    EXPECT_EQ(r.sign(i), bit ? -1 : 1) << "sign " << i;
  }
}

TEST(RandomizedHadamardTest, SignsAreFairCoinsAndDifferPerSeed) {
  // Under H0 (independent fair signs) the number of -1 among n = 2^16 signs
  // is Binomial(n, 1/2): mean n/2, sd sqrt(n)/2 = 128. The bound 4.5 sd
  // (576) is exceeded with probability < 7e-6 per check, so the 8 + 28
  // checks below pass together with probability > 0.9997 under H0.
  constexpr size_t kN = size_t{1} << 16;
  const double bound = 4.5 * std::sqrt(static_cast<double>(kN)) / 2;
  std::vector<RandomizedHadamard> rotations;
  for (uint8_t s = 0; s < 8; ++s) {
    rotations.push_back(MakeRotation(kN, static_cast<uint8_t>(40 * s)));
    int negatives = 0;
    for (size_t i = 0; i < kN; ++i) {
      const int sign = rotations.back().sign(i);
      ASSERT_TRUE(sign == 1 || sign == -1);
      negatives += sign == -1;
    }
    EXPECT_LE(std::fabs(negatives - kN / 2.0), bound) << "seed " << int{s};
  }
  // Two seeds: the number of disagreeing positions is also Binomial(n, 1/2).
  for (size_t a = 0; a < rotations.size(); ++a) {
    for (size_t b = a + 1; b < rotations.size(); ++b) {
      int differ = 0;
      for (size_t i = 0; i < kN; ++i) {
        differ += rotations[a].sign(i) != rotations[b].sign(i);
      }
      EXPECT_LE(std::fabs(differ - kN / 2.0), bound) << a << " vs " << b;
    }
  }
}

TEST(RandomizedHadamardTest, SameSeedGivesTheSameRotation) {
  const RandomizedHadamard a = MakeRotation(3000, 21);
  const RandomizedHadamard b = MakeRotation(3000, 21);
  for (size_t i = 0; i < a.padded_dimension(); ++i) {
    ASSERT_EQ(a.sign(i), b.sign(i)) << i;
  }
}

TEST(RandomizedHadamardTest, RefusesBadArguments) {
  const std::array<uint8_t, 32> seed = SeedFrom(1);
  EXPECT_EQ(RandomizedHadamard::Create(0, seed).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      RandomizedHadamard::Create(RandomizedHadamard::kMaxDimension + 1, seed)
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  const std::vector<uint8_t> short_seed(16, 0);
  EXPECT_EQ(RandomizedHadamard::Create(8, short_seed).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(
      RandomizedHadamard::FromSignsForTesting(4, std::vector<int>{1, 1, 1})
          .ok());
  EXPECT_FALSE(
      RandomizedHadamard::FromSignsForTesting(2, std::vector<int>{1, 0}).ok());

  const RandomizedHadamard r = MakeRotation(5, 1);
  std::vector<double> out(8);
  EXPECT_EQ(r.Rotate(std::vector<float>(4), absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<double> short_out(5);
  EXPECT_EQ(r.Rotate(std::vector<float>(5), absl::MakeSpan(short_out)).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> back(5);
  EXPECT_EQ(
      r.InverseRotate(absl::MakeSpan(short_out), absl::MakeSpan(back)).code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedlearn
