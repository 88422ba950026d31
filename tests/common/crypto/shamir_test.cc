#include "common/crypto/shamir.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

constexpr uint64_t p = kShamirPrime;

SecretBytes RandomSecret(std::mt19937_64& rng, size_t size) {
  SecretBytes s(size);
  for (size_t i = 0; i < size; ++i) s.data()[i] = static_cast<uint8_t>(rng());
  return s;
}

std::vector<uint32_t> OneTo(uint32_t n) {
  std::vector<uint32_t> xs(n);
  std::iota(xs.begin(), xs.end(), 1u);
  return xs;
}

// Reference: a * b mod p by double-and-add, no 128-bit tricks.
uint64_t SlowMul(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  a %= p;
  b %= p;
  while (b) {
    if (b & 1) r = (r + a) % p;
    a = (a + a) % p;
    b >>= 1;
  }
  return r;
}

TEST(ShamirFieldTest, ReductionEdgeCasesNearPrime) {
  EXPECT_EQ(FieldAdd(p - 1, 1), 0u);
  EXPECT_EQ(FieldAdd(p - 1, p - 1), p - 2);
  EXPECT_EQ(FieldSub(0, 1), p - 1);
  EXPECT_EQ(FieldSub(5, 5), 0u);
  EXPECT_EQ(FieldMul(p - 1, p - 1), 1u);  // (-1)^2
  EXPECT_EQ(FieldMul(p - 1, 2), p - 2);
  EXPECT_EQ(FieldMul(uint64_t{1} << 60, 2), 1u);  // 2^61 == 1
  EXPECT_EQ(FieldMul(uint64_t{1} << 60, uint64_t{1} << 60), uint64_t{1} << 59);
  // Unreduced inputs are treated modulo p.
  EXPECT_EQ(FieldAdd(p, 0), 0u);
  EXPECT_EQ(FieldMul(p, 12345), 0u);
  EXPECT_EQ(FieldMul(p + 3, 4), 12u);
  EXPECT_EQ(FieldMul(~uint64_t{0}, 1), SlowMul(~uint64_t{0}, 1));
  EXPECT_EQ(FieldInverse(1), 1u);
  EXPECT_EQ(FieldInverse(p - 1), p - 1);
  EXPECT_EQ(FieldMul(FieldInverse(2), 2), 1u);
}

TEST(ShamirFieldTest, MulMatchesReferenceAndAlgebraicLawsHold) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t a = rng() % p, b = rng() % p, c = rng() % p;
    EXPECT_EQ(FieldMul(a, b), SlowMul(a, b));
    EXPECT_EQ(FieldMul(a, b), FieldMul(b, a));
    EXPECT_EQ(FieldMul(a, FieldAdd(b, c)),
              FieldAdd(FieldMul(a, b), FieldMul(a, c)));  // distributive
    EXPECT_EQ(FieldMul(FieldMul(a, b), c), FieldMul(a, FieldMul(b, c)));
    EXPECT_EQ(FieldAdd(FieldSub(a, b), b), a);
    if (a != 0) {
      EXPECT_EQ(FieldMul(a, FieldInverse(a)), 1u);
    }
    EXPECT_LT(FieldMul(a, b), p);
    EXPECT_LT(FieldAdd(a, b), p);
    EXPECT_LT(FieldSub(a, b), p);
  }
}

TEST(ShamirTest, EverySubsetOfThresholdSizeReconstructsSmallN) {
  std::mt19937_64 rng(1);
  for (int n = 1; n <= 7; ++n) {
    for (int t = 1; t <= n; ++t) {
      const SecretBytes secret = RandomSecret(rng, 32);
      auto shares = ShamirSplit(secret, t, OneTo(n));
      ASSERT_TRUE(shares.ok()) << shares.status();
      ASSERT_EQ(shares->size(), static_cast<size_t>(n));
      // Every subset of size >= t, via bitmasks.
      for (uint32_t mask = 1; mask < (1u << n); ++mask) {
        if (__builtin_popcount(mask) < t) continue;
        std::vector<ShamirShare> subset;
        for (int i = 0; i < n; ++i) {
          if (mask & (1u << i)) subset.push_back((*shares)[i]);
        }
        std::shuffle(subset.begin(), subset.end(), rng);
        auto recovered = ShamirReconstruct(subset, t);
        ASSERT_TRUE(recovered.ok()) << recovered.status();
        EXPECT_TRUE(*recovered == secret)
            << "n=" << n << " t=" << t << " mask=" << mask;
      }
    }
  }
}

TEST(ShamirTest, RandomSubsetsReconstructLargeNManySeeds) {
  std::mt19937_64 rng(2);
  for (int trial = 0; trial < 60; ++trial) {
    const int n = 10 + static_cast<int>(rng() % 90);
    const int t = 1 + static_cast<int>(rng() % n);
    // Lengths that do and do not fill the last 7-byte chunk.
    const size_t len = std::vector<size_t>{1, 7, 13, 14, 32, 33}[trial % 6];
    const SecretBytes secret = RandomSecret(rng, len);
    // Non-contiguous x coordinates, as after dropouts or reindexing.
    std::vector<uint32_t> xs;
    for (int i = 0; i < n; ++i)
      xs.push_back(static_cast<uint32_t>(3 * i + 1 + (rng() % 2)));
    std::sort(xs.begin(), xs.end());
    xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
    if (static_cast<int>(xs.size()) < t) continue;
    auto shares = ShamirSplit(secret, t, xs);
    ASSERT_TRUE(shares.ok()) << shares.status();
    for (int k = 0; k < 5; ++k) {
      std::vector<ShamirShare> subset = *shares;
      std::shuffle(subset.begin(), subset.end(), rng);
      subset.resize(t);
      auto recovered = ShamirReconstruct(subset, t);
      ASSERT_TRUE(recovered.ok()) << recovered.status();
      EXPECT_TRUE(*recovered == secret);
    }
  }
}

TEST(ShamirTest, ExtremeSecretBytesSurviveTheChunkEncoding) {
  for (uint8_t fill : {0x00, 0xff}) {
    SecretBytes secret(33);
    std::fill(secret.data(), secret.data() + secret.size(), fill);
    auto shares = ShamirSplit(secret, 3, OneTo(5));
    ASSERT_TRUE(shares.ok());
    EXPECT_EQ((*shares)[0].y.size(), 5u);  // ceil(33 / 7)
    auto recovered = ShamirReconstruct(*shares, 3);
    ASSERT_TRUE(recovered.ok());
    EXPECT_TRUE(*recovered == secret);
  }
}

// Evaluates at `x` the unique polynomial of degree < points.size() through
// `points` (Lagrange form).
uint64_t Interpolate(const std::vector<std::pair<uint64_t, uint64_t>>& points,
                     uint64_t x) {
  uint64_t result = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    uint64_t num = 1, den = 1;
    for (size_t j = 0; j < points.size(); ++j) {
      if (j == i) continue;
      num = FieldMul(num, FieldSub(x, points[j].first));
      den = FieldMul(den, FieldSub(points[i].first, points[j].first));
    }
    result = FieldAdd(
        result, FieldMul(points[i].second, FieldMul(num, FieldInverse(den))));
  }
  return result;
}

// Perfect secrecy, algebraically: for t-1 shares and ANY candidate secret s'
// there is a polynomial of degree t-1 through those shares with constant
// term s' (the one interpolating (0, s') and the t-1 shares). So the shares
// are equally consistent with every secret and reveal nothing about it.
TEST(ShamirTest, ThresholdMinusOneSharesAreConsistentWithEverySecret) {
  std::mt19937_64 rng(3);
  for (int t : {2, 3, 5, 8}) {
    const SecretBytes secret = RandomSecret(rng, 7);  // one chunk
    auto shares = ShamirSplit(secret, t, OneTo(10));
    ASSERT_TRUE(shares.ok());
    std::vector<ShamirShare> known(shares->begin(), shares->begin() + (t - 1));
    for (int c = 0; c < 20; ++c) {
      const uint64_t candidate = rng() % p;
      std::vector<std::pair<uint64_t, uint64_t>> points = {{0, candidate}};
      for (const ShamirShare& s : known) points.push_back({s.x, s.y[0]});
      // Degree <= t-1 by construction (t points); it hits every known share:
      for (const ShamirShare& s : known) {
        EXPECT_EQ(Interpolate(points, s.x), s.y[0]);
      }
      EXPECT_EQ(Interpolate(points, 0), candidate);
      // ...and completing it with its own t-th share makes the real
      // reconstruction return the candidate, not the true secret.
      const uint32_t x_new = 10 + c + 1;
      ShamirShare forged{x_new, {Interpolate(points, x_new)}, 7};
      std::vector<ShamirShare> with_forged = known;
      with_forged.push_back(forged);
      if (candidate < (uint64_t{1} << 56)) {
        auto out = ShamirReconstruct(with_forged, t);
        ASSERT_TRUE(out.ok()) << out.status();
        uint64_t value = 0;
        for (int k = 0; k < 7; ++k)
          value |= uint64_t{out->data()[k]} << (8 * k);
        EXPECT_EQ(value, candidate);
      }
    }
  }
}

TEST(ShamirTest, SplitRejectsBadArguments) {
  SecretBytes secret(32);
  EXPECT_EQ(ShamirSplit(secret, 0, OneTo(3)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ShamirSplit(secret, 4, OneTo(3)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ShamirSplit(secret, 2, {0, 1, 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ShamirSplit(secret, 2, {1, 2, 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ShamirTest, ReconstructRejectsBadShares) {
  std::mt19937_64 rng(4);
  const SecretBytes secret = RandomSecret(rng, 32);
  auto shares = ShamirSplit(secret, 3, OneTo(5));
  ASSERT_TRUE(shares.ok());
  const auto code = [](const std::vector<ShamirShare>& s, int t) {
    return ShamirReconstruct(s, t).status().code();
  };
  // Too few.
  EXPECT_EQ(code({(*shares)[0], (*shares)[1]}, 3),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(*shares, 0), absl::StatusCode::kInvalidArgument);
  // Duplicate x.
  EXPECT_EQ(code({(*shares)[0], (*shares)[1], (*shares)[1]}, 3),
            absl::StatusCode::kInvalidArgument);
  // x = 0.
  std::vector<ShamirShare> zero_x = *shares;
  zero_x[2].x = 0;
  EXPECT_EQ(code(zero_x, 3), absl::StatusCode::kInvalidArgument);
  // Mismatched lengths.
  std::vector<ShamirShare> short_y = *shares;
  short_y[1].y.pop_back();
  EXPECT_EQ(code(short_y, 3), absl::StatusCode::kInvalidArgument);
  std::vector<ShamirShare> other_len = *shares;
  other_len[1].secret_bytes = 31;
  EXPECT_EQ(code(other_len, 3), absl::StatusCode::kInvalidArgument);
  // Out-of-field value.
  std::vector<ShamirShare> big = *shares;
  big[0].y[0] = p;
  EXPECT_EQ(code(big, 3), absl::StatusCode::kInvalidArgument);
  // Extra shares beyond the threshold are ignored.
  auto ok = ShamirReconstruct(*shares, 3);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(*ok == secret);
}

TEST(ShamirTest, SharesOfTheSameSecretDifferAcrossSplits) {
  SecretBytes secret(32);
  auto a = ShamirSplit(secret, 2, OneTo(3));
  auto b = ShamirSplit(secret, 2, OneTo(3));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)[0].y, (*b)[0].y);  // fresh random coefficients each time
}

}  // namespace
}  // namespace fedlearn
