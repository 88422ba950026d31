#include "common/evaluation/eval_vector_codec.h"

#include <cstdint>
#include <random>
#include <vector>

#include "common/secagg/input_encoding.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

// 3 classes, 2 accuracy bins, 2 loss bins, no groups, max_loss 1.
EvalLayout SmallLayout() {
  EvalLayout l;
  l.num_classes = 3;
  l.accuracy_bins = 2;
  l.loss_bins = 2;
  l.max_loss = 1.0;
  l.accuracy_threshold = 0.5;
  return l;
}

EvalLayout BinaryLayout() {
  EvalLayout l;
  l.num_classes = 2;
  l.score_bins = 8;
  l.accuracy_bins = 5;
  l.loss_bins = 3;
  l.num_groups = 2;
  l.max_loss = 20.0;
  l.accuracy_threshold = 0.6;
  return l;
}

// Expected values from an independent computation (/usr/bin/python3):
//   L=13; M=10000
//   bounds=[M,M,int(M*1/1e-3)+1,M,M,M,M,1,1,10**6,10**6,1,1,1,1]
//   limbs=[-(-b.bit_length()//L) for b in bounds]
//   vals=[9000,6000,8123456,0,0,0,0,1,0,666667,444444,0,1,1,0]
//   out=[]
//   for v,k in zip(vals,limbs):
//     for j in range(k): out.append((v>>(j*L))&((1<<L)-1))
TEST(EvalVectorCodecTest, KnownAnswerEncoding) {
  const EvalLayout l = SmallLayout();
  absl::StatusOr<EvalVectorCodec> codec =
      EvalVectorCodec::Create(l, 16, 4, 10000);
  ASSERT_TRUE(codec.ok()) << codec.status();
  EXPECT_EQ(codec->limb_bits(), 13);  // 16 - 1 - ceil(log2 4)
  EXPECT_EQ(codec->limbs(),
            (std::vector<int>{2, 2, 2, 2, 2, 2, 2, 1, 1, 2, 2, 1, 1, 1, 1}));
  ASSERT_EQ(codec->length(), 24u);
  const std::vector<uint64_t> values = {9000, 6000,   8123456, 0, 0, 0, 0, 1,
                                        0,    666667, 444444,  0, 1, 1, 0};
  absl::StatusOr<SiteEvalReport> report = SiteEvalReport::FromVector(l, values);
  ASSERT_TRUE(report.ok());
  absl::StatusOr<std::vector<uint32_t>> enc = codec->Encode(*report);
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(*enc, (std::vector<uint32_t>{808,  1,  6000, 0,  5184, 991, 0, 0,
                                         0,    0,  0,    0,  0,    0,   1, 0,
                                         3115, 81, 2076, 54, 0,    1,   1, 0}));
  absl::StatusOr<SiteEvalReport> back = codec->DecodeSum(*enc);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *report);
}

TEST(EvalVectorCodecTest, LimbBitsMatchTheUpdateEncodingsCountLimbs) {
  for (int b : {8, 16, 20, 32}) {
    for (int n : {1, 2, 3, 100, 1000}) {
      absl::StatusOr<EvalVectorCodec> codec =
          EvalVectorCodec::Create(BinaryLayout(), b, n, 1000);
      if (CountLimbBits(b, n) < 1) {
        EXPECT_FALSE(codec.ok());
        continue;
      }
      ASSERT_TRUE(codec.ok()) << codec.status();
      EXPECT_EQ(codec->limb_bits(), CountLimbBits(b, n));
    }
  }
}

// A report whose every value is uniform in [0, its bound]: the codec does
// not check consistency, so this exercises every limb.
SiteEvalReport RandomBoundedReport(const EvalLayout& l,
                                   const EvalVectorCodec& codec,
                                   std::mt19937_64& rng) {
  std::vector<uint64_t> v;
  for (uint64_t bound : codec.bounds()) {
    v.push_back(std::uniform_int_distribution<uint64_t>(0, bound)(rng));
  }
  return *SiteEvalReport::FromVector(l, v);
}

// Property: the mod-2^b sum of N honest encodings decodes to exactly the
// element-wise sum of the reports, for random N <= max_clients.
TEST(EvalVectorCodecTest, SumOfEncodingsDecodesToTheSumOfReports) {
  std::mt19937_64 rng(2024);
  for (int b : {16, 20, 32}) {
    for (int trial = 0; trial < 30; ++trial) {
      const int max_clients = std::uniform_int_distribution<int>(1, 200)(rng);
      const int n = std::uniform_int_distribution<int>(1, max_clients)(rng);
      const uint64_t max_examples =
          std::uniform_int_distribution<uint64_t>(1, 2000000)(rng);
      const EvalLayout l = trial % 2 ? BinaryLayout() : SmallLayout();
      absl::StatusOr<EvalVectorCodec> codec =
          EvalVectorCodec::Create(l, b, max_clients, max_examples);
      ASSERT_TRUE(codec.ok()) << codec.status();
      const uint32_t mask = b == 32 ? 0xffffffffu : (1u << b) - 1;
      SiteEvalReport expected = SiteEvalReport::Zero(l);
      std::vector<uint32_t> sum(codec->length(), 0);
      std::vector<uint32_t> masks(codec->length(), 0);
      for (int c = 0; c < n; ++c) {
        const SiteEvalReport r = RandomBoundedReport(l, *codec, rng);
        ASSERT_TRUE(expected.Add(r).ok());
        absl::StatusOr<std::vector<uint32_t>> enc = codec->Encode(r);
        ASSERT_TRUE(enc.ok()) << enc.status();
        ASSERT_EQ(enc->size(), codec->length());
        // Masks cancel in the real protocol: add a random one per value
        // (wrapping mod 2^b) and remove their total after the sum.
        for (size_t i = 0; i < sum.size(); ++i) {
          EXPECT_LE((*enc)[i], mask);
          const uint32_t m = static_cast<uint32_t>(rng()) & mask;
          sum[i] = (sum[i] + (*enc)[i] + m) & mask;
          masks[i] = (masks[i] + m) & mask;
        }
      }
      for (size_t i = 0; i < sum.size(); ++i) {
        sum[i] = (sum[i] - masks[i]) & mask;
      }
      absl::StatusOr<SiteEvalReport> decoded = codec->DecodeSum(sum);
      ASSERT_TRUE(decoded.ok()) << decoded.status() << " b=" << b << " n=" << n;
      EXPECT_EQ(*decoded, expected) << "b=" << b << " n=" << n;
    }
  }
}

TEST(EvalVectorCodecTest, EncodeRefusesAValueAboveItsBound) {
  const EvalLayout l = BinaryLayout();
  absl::StatusOr<EvalVectorCodec> codec =
      EvalVectorCodec::Create(l, 32, 10, 100);
  ASSERT_TRUE(codec.ok());
  SiteEvalReport r = SiteEvalReport::Zero(l);
  r.examples = 101;
  EXPECT_EQ(codec->Encode(r).status().code(), absl::StatusCode::kOutOfRange);
  r = SiteEvalReport::Zero(l);
  r.accuracy_histogram[2] = 2;  // one-hot bins are at most 1
  EXPECT_EQ(codec->Encode(r).status().code(), absl::StatusCode::kOutOfRange);
  r = SiteEvalReport::Zero(l);
  r.loss_units = 100 * 20 * 1000 + 2;
  EXPECT_EQ(codec->Encode(r).status().code(), absl::StatusCode::kOutOfRange);
  r.loss_units = 100 * 20 * 1000 + 1;
  EXPECT_TRUE(codec->Encode(r).ok());
  r = SiteEvalReport::Zero(SmallLayout());
  EXPECT_EQ(codec->Encode(r).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EvalVectorCodecTest, DecodeRefusesSumsHonestClientsCannotProduce) {
  const EvalLayout l = SmallLayout();
  absl::StatusOr<EvalVectorCodec> codec =
      EvalVectorCodec::Create(l, 16, 4, 10000);
  ASSERT_TRUE(codec.ok());
  std::vector<uint32_t> sum(codec->length(), 0);
  // A limb above N * (2^L - 1) = 4 * 8191.
  sum[0] = 4 * 8191 + 1;
  EXPECT_EQ(codec->DecodeSum(sum).status().code(),
            absl::StatusCode::kInvalidArgument);
  sum[0] = 4 * 8191;
  EXPECT_TRUE(codec->DecodeSum(sum).ok());
  // `sites` (value 7, one limb, bound 1): a limb sum of 5 > N * 1.
  sum[14] = 5;
  EXPECT_EQ(codec->DecodeSum(sum).status().code(),
            absl::StatusCode::kInvalidArgument);
  sum[14] = 4;
  EXPECT_TRUE(codec->DecodeSum(sum).ok());
  // examples reassembled above N * 10000.
  sum[0] = 0;
  sum[1] = 5;  // 5 * 8192 > 40000
  EXPECT_EQ(codec->DecodeSum(sum).status().code(),
            absl::StatusCode::kInvalidArgument);
  sum.pop_back();
  EXPECT_EQ(codec->DecodeSum(sum).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EvalVectorCodecTest, CreateRefusesImpossibleParameters) {
  const EvalLayout l = SmallLayout();
  EXPECT_FALSE(EvalVectorCodec::Create(l, 2, 4, 10).ok());  // no limb fits
  EXPECT_FALSE(EvalVectorCodec::Create(l, 33, 4, 10).ok());
  EXPECT_FALSE(EvalVectorCodec::Create(l, 16, 0, 10).ok());
  EXPECT_FALSE(EvalVectorCodec::Create(l, 16, 4, 0).ok());  // max_examples
  EXPECT_TRUE(EvalVectorCodec::Create(l, 3, 1, 10).ok());   // L = 2
}

}  // namespace
}  // namespace fedlearn
