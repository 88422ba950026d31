#include "client/training/qffl_transform.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "common/config/qffl_update.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

const std::vector<float> kDelta = {0.1f, -0.2f, 0.05f, 0.0f};

std::vector<float> Values(const FlatVector& v) {
  return std::vector<float>(v.data(), v.data() + v.size());
}

// Expected values from /usr/bin/python3 (numpy), float64 then float32:
//   d = np.array([0.1, -0.2, 0.05, 0.0], dtype=np.float32).astype(np.float64)
//   F = loss + 1e-10
//   u = np.float_power(F, q) * d
//   h = (np.float_power(F, q) + q * np.float_power(F, q - 1) * L *
//        np.sum(d * d)) / 1024
//   print([float(np.float32(x)) for x in u], float(np.float32(h)))
// loss 0.5, q 2, L 8; and loss 1.7, q 0.5, L 2.
TEST(QfflTransformTest, ValuesMatchTheFloat64Reference) {
  absl::StatusOr<FlatVector> a = QfflClientValues(kDelta, 0.5, 2.0, 8.0);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(Values(*a),
            (std::vector<float>{0.02500000037252903f, -0.05000000074505806f,
                                0.012500000186264515f, 0.0f,
                                0.0006542968912981451f}));
  absl::StatusOr<FlatVector> b = QfflClientValues(kDelta, 1.7, 0.5, 2.0);
  ASSERT_TRUE(b.ok()) << b.status();
  const std::vector<float> expected = {
      0.13038404285907745f, -0.2607680857181549f, 0.06519202142953873f, 0.0f,
      0.0013126037083566189f};
  ASSERT_EQ(b->size(), expected.size());
  for (size_t j = 0; j < expected.size(); ++j) {
    // pow() may differ from numpy's in the last double bit.
    EXPECT_NEAR((*b)[j], expected[j], 2e-7 * std::abs(expected[j])) << j;
  }
}

TEST(QfflTransformTest, QZeroSendsTheDeltaAndExactlyOneOverH) {
  absl::StatusOr<FlatVector> u = QfflClientValues(kDelta, 3.25, 0.0, 20.0);
  ASSERT_TRUE(u.ok()) << u.status();
  std::vector<float> expected = kDelta;
  expected.push_back(static_cast<float>(1.0 / kQfflDenominatorScale));
  EXPECT_EQ(Values(*u), expected);
  // Also at F = 0 (0^0 = 1; the curvature term is absent).
  absl::StatusOr<FlatVector> zero = QfflClientValues(kDelta, 0.0, 0.0, 20.0);
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ(Values(*zero), expected);
}

TEST(QfflTransformTest, LargerLossWeighsMoreAndTheDenominatorGrows) {
  // The fairness property: with q > 0 a client with a larger loss sends a
  // larger F^q delta (its delta counts more), and h grows with ||delta||^2.
  for (double q : {0.5, 1.0, 5.0}) {
    absl::StatusOr<FlatVector> low = QfflClientValues(kDelta, 0.2, q, 4.0);
    absl::StatusOr<FlatVector> high = QfflClientValues(kDelta, 2.0, q, 4.0);
    ASSERT_TRUE(low.ok() && high.ok());
    EXPECT_GT(std::abs((*high)[1]), std::abs((*low)[1])) << q;
    EXPECT_GT((*high)[4], (*low)[4]) << q;
    const std::vector<float> twice = {0.2f, -0.4f, 0.1f, 0.0f};
    absl::StatusOr<FlatVector> longer = QfflClientValues(twice, 2.0, q, 4.0);
    ASSERT_TRUE(longer.ok());
    EXPECT_GT((*longer)[4], (*high)[4]) << q;
  }
}

TrainingConfig Qffl(double q, double lipschitz) {
  TrainingConfig c;
  c.qffl_q = q;
  c.qffl_lipschitz = lipschitz;
  return c;
}

TrainingResult Result(std::optional<double> global_loss) {
  TrainingResult r;
  r.delta = FlatVector(kDelta);
  r.num_examples = 420;
  r.train_loss = 0.75;
  r.global_loss = global_loss;
  return r;
}

TEST(QfflTransformTest, ApplyReplacesDeltaAndCountButKeepsTheRealLoss) {
  TrainingResult r = Result(0.5);
  ASSERT_TRUE(ApplyQfflTransform(Qffl(2.0, 8.0), false, 0.0, &r).ok());
  EXPECT_EQ(r.delta.size(), kDelta.size() + 1);
  EXPECT_EQ(r.num_examples, 1u);
  EXPECT_EQ(r.train_loss, 0.75);
}

TEST(QfflTransformTest, RefusesDpAMissingLossAndAnOverfullDenominator) {
  TrainingResult dp = Result(0.5);
  absl::Status s = ApplyQfflTransform(Qffl(1.0, 8.0), true, 0.0, &dp);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("differential privacy"));
  EXPECT_EQ(dp.delta.size(), kDelta.size()) << "left as it was";

  TrainingResult missing = Result(std::nullopt);
  EXPECT_FALSE(ApplyQfflTransform(Qffl(1.0, 8.0), false, 0.0, &missing).ok());

  // h / (L H) = (40^2 + ...) / 1024 > 1: refused in a secure round with clip
  // range 1 rather than clipped; allowed in plaintext.
  TrainingResult secure = Result(40.0);
  s = ApplyQfflTransform(Qffl(2.0, 8.0), false, 1.0, &secure);
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("secagg.clip_range"));
  EXPECT_EQ(secure.num_examples, 420u) << "left as it was";
  TrainingResult plain = Result(40.0);
  EXPECT_TRUE(ApplyQfflTransform(Qffl(2.0, 8.0), false, 0.0, &plain).ok());

  TrainingResult off = Result(0.5);
  EXPECT_FALSE(ApplyQfflTransform(Qffl(1.0, 0.0), false, 0.0, &off).ok());
}

TEST(QfflTransformTest, RefusesBadInputsAndOverflow) {
  EXPECT_TRUE(absl::IsInvalidArgument(
      QfflClientValues(kDelta, -0.1, 1.0, 8.0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      QfflClientValues(kDelta, std::nan(""), 1.0, 8.0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      QfflClientValues(kDelta, 0.5, -1.0, 8.0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      QfflClientValues(kDelta, 0.5, 1.0, 0.0).status()));
  // 50^40 = 9e67 overflows float32.
  EXPECT_TRUE(
      absl::IsOutOfRange(QfflClientValues(kDelta, 50.0, 40.0, 8.0).status()));
}

}  // namespace
}  // namespace fedlearn
