// Seeded stochastic rounding (InputEncoder::Encode's rounding_seed), which
// fedlearn-sim uses to make secure simulations reproducible: the same seed
// gives the same encoding, another seed other coins, and the coins stay
// unbiased.
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/crypto/mask_prg.h"
#include "common/crypto/secret_bytes.h"
#include "common/secagg/input_encoding.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

EncodingParameters CoarseParams() {
  EncodingParameters p;
  p.modulus_bits = 32;
  p.quantization_bits = 4;  // step = 1/7: every value is rounded visibly
  p.clip_range = 1.0;
  p.max_weight = 1000;
  p.max_clients = 100;
  return p;
}

SecretBytes Seed(uint8_t fill) {
  SecretBytes seed(kPrgSeedBytes);
  for (size_t i = 0; i < seed.size(); ++i) seed.data()[i] = fill + i;
  return seed;
}

// 20,000 copies of 0.3: each encodes to 2 or 3 (0.3 * 7 = 2.1). More values
// than one coin buffer, so the seeded stream's refill is exercised too.
const std::vector<float>& Update() {
  static const std::vector<float> update(20000, 0.3f);
  return update;
}

TEST(SeededRoundingTest, TheSameSeedGivesTheSameEncoding) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(CoarseParams());
  ASSERT_TRUE(enc.ok());
  const SecretBytes seed = Seed(1);
  absl::StatusOr<EncodedUpdate> a = enc->Encode(Update(), 1000, 0.5, &seed);
  absl::StatusOr<EncodedUpdate> b = enc->Encode(Update(), 1000, 0.5, &seed);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->values, b->values);
}

TEST(SeededRoundingTest, AnotherSeedOrTheOsDrawsOtherCoins) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(CoarseParams());
  ASSERT_TRUE(enc.ok());
  const SecretBytes one = Seed(1), two = Seed(2);
  absl::StatusOr<EncodedUpdate> a = enc->Encode(Update(), 1000, 0.5, &one);
  absl::StatusOr<EncodedUpdate> b = enc->Encode(Update(), 1000, 0.5, &two);
  absl::StatusOr<EncodedUpdate> os1 = enc->Encode(Update(), 1000, 0.5);
  absl::StatusOr<EncodedUpdate> os2 = enc->Encode(Update(), 1000, 0.5);
  ASSERT_TRUE(a.ok() && b.ok() && os1.ok() && os2.ok());
  // 20,000 Bernoulli(0.1) coins agree everywhere with probability 0.82^20000.
  EXPECT_NE(a->values, b->values);
  EXPECT_NE(os1->values, os2->values);
  EXPECT_NE(a->values, os1->values);
}

TEST(SeededRoundingTest, SeededCoinsAreUnbiased) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(CoarseParams());
  ASSERT_TRUE(enc.ok());
  const SecretBytes seed = Seed(7);
  absl::StatusOr<EncodedUpdate> e = enc->Encode(Update(), 1000, 0.5, &seed);
  ASSERT_TRUE(e.ok());
  double sum = 0;
  for (size_t j = 0; j < Update().size(); ++j) {
    ASSERT_TRUE(e->values[j] == 2 || e->values[j] == 3) << j;
    sum += e->values[j];
  }
  // Mean 2.1; sd of the average sqrt(0.09 / 20000) = 0.0021; 5 sd.
  EXPECT_NEAR(sum / Update().size(), 2.1, 0.0106);
}

TEST(SeededRoundingTest, ASeedDoesNotChangeWhatIsRefused) {
  absl::StatusOr<InputEncoder> enc = InputEncoder::Create(CoarseParams());
  ASSERT_TRUE(enc.ok());
  const SecretBytes seed = Seed(3);
  EXPECT_FALSE(enc->Encode(std::vector<float>{NAN}, 10, 0, &seed).ok());
  EXPECT_FALSE(enc->Encode(std::vector<float>{0.1f}, 0, 0, &seed).ok());
}

}  // namespace
}  // namespace fedlearn
