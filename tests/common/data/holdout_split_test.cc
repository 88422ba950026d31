#include "common/data/holdout_split.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Class sizes 500, 37, 1200, 3, 260, 1, 2: big, small, singleton, pair.
std::vector<int32_t> UnbalancedLabels() {
  std::vector<int32_t> labels;
  const int sizes[] = {500, 37, 1200, 3, 260, 1, 2};
  for (int32_t k = 0; k < 7; ++k) labels.insert(labels.end(), sizes[k], k);
  // Interleave so classes are not contiguous in the file.
  std::vector<int32_t> mixed(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    mixed[(i * 7919) % labels.size()] = labels[i];
  }
  return mixed;
}

std::vector<size_t> CountPerClass(const std::vector<size_t>& indices,
                                  const std::vector<int32_t>& labels,
                                  int32_t num_classes) {
  std::vector<size_t> counts(num_classes, 0);
  for (size_t i : indices) ++counts[labels[i]];
  return counts;
}

TEST(HeldOutCountTest, RoundsToNearestKeepsOneAndNeverTakesAClass) {
  EXPECT_EQ(HeldOutCount(10, 0.1), 1u);
  EXPECT_EQ(HeldOutCount(25, 0.1), 3u);  // 2.5 rounds up
  EXPECT_EQ(HeldOutCount(24, 0.1), 2u);  // 2.4 rounds down
  EXPECT_EQ(HeldOutCount(100, 0.2), 20u);
  EXPECT_EQ(HeldOutCount(5, 0.01), 1u);  // at least one of a class of >= 2
  EXPECT_EQ(HeldOutCount(2, 0.9), 1u);   // never the whole class
  EXPECT_EQ(HeldOutCount(3, 0.99), 2u);
  EXPECT_EQ(HeldOutCount(1, 0.5), 0u);  // a singleton always trains
  EXPECT_EQ(HeldOutCount(0, 0.5), 0u);
}

TEST(HoldoutSplitTest, EveryExampleIsInExactlyOnePart) {
  const std::vector<int32_t> labels = UnbalancedLabels();
  for (double fraction : {0.01, 0.1, 0.5, 0.9}) {
    for (uint64_t seed = 0; seed < 5; ++seed) {
      absl::StatusOr<HoldoutIndices> split =
          SplitHoldoutIndices(labels, 7, fraction, seed);
      ASSERT_TRUE(split.ok()) << split.status();
      std::vector<size_t> all = split->train;
      all.insert(all.end(), split->holdout.begin(), split->holdout.end());
      std::sort(all.begin(), all.end());
      std::vector<size_t> expected(labels.size());
      std::iota(expected.begin(), expected.end(), size_t{0});
      EXPECT_EQ(all, expected) << fraction << " " << seed;
      EXPECT_TRUE(std::is_sorted(split->train.begin(), split->train.end()));
    }
  }
}

TEST(HoldoutSplitTest, StratifiesEveryClassByTheRule) {
  const std::vector<int32_t> labels = UnbalancedLabels();
  absl::StatusOr<HoldoutIndices> split =
      SplitHoldoutIndices(labels, 8, 0.1, 3);  // class 7 is empty
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_THAT(CountPerClass(split->holdout, labels, 8),
              ElementsAre(50, 4, 120, 1, 26, 0, 1, 0));
  EXPECT_THAT(CountPerClass(split->train, labels, 8),
              ElementsAre(450, 33, 1080, 2, 234, 1, 1, 0));
}

TEST(HoldoutSplitTest, SameSeedSameSplitOtherSeedOtherSplit) {
  const std::vector<int32_t> labels = UnbalancedLabels();
  absl::StatusOr<HoldoutIndices> a = SplitHoldoutIndices(labels, 7, 0.2, 11);
  absl::StatusOr<HoldoutIndices> b = SplitHoldoutIndices(labels, 7, 0.2, 11);
  absl::StatusOr<HoldoutIndices> c = SplitHoldoutIndices(labels, 7, 0.2, 12);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->holdout, b->holdout);
  EXPECT_EQ(a->train, b->train);
  EXPECT_NE(a->holdout, c->holdout);
  // The held-out order is shuffled, not the file's order.
  EXPECT_FALSE(std::is_sorted(a->holdout.begin(), a->holdout.end()));
}

// Known answer from an independent model of the algorithm (mt19937_64 per
// the C++ standard, checked against its 10000th-output value), so the split
// is pinned across standard libraries. /usr/bin/python3:
//   M64 = (1 << 64) - 1
//   class MT64: (the standard's seeding, twist and tempering, n = 312,
//     m = 156, r = 31, a = 0xB5026F5AA96619E9, u,d = 29,0x5555555555555555,
//     s,b = 17,0x71D67FFFEDA60000, t,c = 37,0xFFF7EEE000000000, l = 43,
//     f = 6364136223846793005)
//   def below(rng, b):
//       limit = M64 - ((M64 % b) + 1) % b
//       x = rng()
//       while x > limit: x = rng()
//       return x % b
//   def shuffle(v, rng):
//       for i in range(len(v), 1, -1):
//           j = below(rng, i); v[i-1], v[j] = v[j], v[i-1]
//   def split(labels, k, f, seed):  # held(n, f) as HeldOutCount
//       rng = MT64(seed); by = [[] for _ in range(k)]
//       for i, l in enumerate(labels): by[l].append(i)
//       tr, ho = [], []
//       for m in by:
//           shuffle(m, rng); h = held(len(m), f); ho += m[:h]; tr += m[h:]
//       tr.sort(); shuffle(ho, rng); return tr, ho
//   print(split([i % 3 for i in range(20)] + [2] * 5, 4, 0.3, 42))
TEST(HoldoutSplitTest, MatchesAnIndependentComputation) {
  std::vector<int32_t> labels;
  for (int i = 0; i < 20; ++i) labels.push_back(i % 3);
  labels.insert(labels.end(), 5, 2);
  absl::StatusOr<HoldoutIndices> split =
      SplitHoldoutIndices(labels, 4, 0.3, 42);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_THAT(split->holdout, ElementsAre(5, 7, 19, 3, 17, 12, 21));
  EXPECT_THAT(split->train, ElementsAre(0, 1, 2, 4, 6, 8, 9, 10, 11, 13, 14, 15,
                                        16, 18, 20, 22, 23, 24));
}

TEST(HoldoutSplitTest, DatasetSplitKeepsHeldOutExamplesOutOfTraining) {
  Dataset data;
  data.sample_shape = {2};
  data.num_classes = 3;
  for (int i = 0; i < 90; ++i) {
    data.features.push_back(static_cast<float>(i));  // the example's id
    data.features.push_back(static_cast<float>(-i));
    data.labels.push_back(i % 3);
    data.groups.push_back(i % 4 == 0 ? -1 : i % 2);
  }
  absl::StatusOr<HoldoutSplit> split = SplitHoldout(data, 0.25, 7);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->holdout.size(), 24u);  // round(7.5) = 8 per class
  EXPECT_EQ(split->train.size(), 66u);
  std::set<int> trained;
  for (size_t k = 0; k < split->train.size(); ++k) {
    const int id = static_cast<int>(split->train.features[2 * k]);
    trained.insert(id);
    EXPECT_EQ(split->train.labels[k], id % 3);
    EXPECT_EQ(split->train.groups[k], id % 4 == 0 ? -1 : id % 2);
  }
  for (size_t k = 0; k < split->holdout.size(); ++k) {
    const int id = static_cast<int>(split->holdout.features[2 * k]);
    EXPECT_EQ(trained.count(id), 0u) << "example " << id << " in both parts";
    EXPECT_EQ(split->holdout.features[2 * k + 1], -static_cast<float>(id));
    EXPECT_EQ(split->holdout.labels[k], id % 3);
    EXPECT_EQ(split->holdout.groups[k], id % 4 == 0 ? -1 : id % 2);
  }
  EXPECT_EQ(split->holdout.num_classes, 3);
  EXPECT_EQ(split->holdout.sample_shape, data.sample_shape);
}

TEST(HoldoutSplitTest, RefusesBadArguments) {
  const std::vector<int32_t> labels = {0, 1, 0, 1};
  for (double bad : {0.0, 1.0, -0.1, 1.5, std::nan("")}) {
    EXPECT_THAT(SplitHoldoutIndices(labels, 2, bad, 0).status().message(),
                HasSubstr("fraction"))
        << bad;
  }
  EXPECT_TRUE(
      absl::IsInvalidArgument(SplitHoldoutIndices({0, 2}, 2, 0.5, 0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      SplitHoldoutIndices({0, -1}, 2, 0.5, 0).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(SplitHoldoutIndices({}, 0, 0.5, 0).status()));
  Dataset data;
  data.sample_shape = {1};
  data.num_classes = 2;
  data.features = {1, 2};
  data.labels = {0, 1};
  data.groups = {0};
  EXPECT_THAT(SplitHoldout(data, 0.5, 0).status().message(),
              HasSubstr("group"));
}

}  // namespace
}  // namespace fedlearn
