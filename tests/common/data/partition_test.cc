#include "common/data/partition.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

// n samples cycling through num_classes labels: balanced like Fashion-MNIST.
std::vector<int32_t> BalancedLabels(size_t n, int32_t num_classes) {
  std::vector<int32_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = i % num_classes;
  return labels;
}

// Class sizes 500, 37, 1200, 3, 260: none a multiple of a shard size.
std::vector<int32_t> UnbalancedLabels() {
  std::vector<int32_t> labels;
  const int sizes[] = {500, 37, 1200, 3, 260};
  for (int32_t k = 0; k < 5; ++k) labels.insert(labels.end(), sizes[k], k);
  return labels;
}

void ExpectEachSampleOnceInSortedParts(const ClientIndices& parts,
                                       size_t num_samples) {
  std::vector<size_t> seen(num_samples, 0);
  for (const std::vector<size_t>& part : parts) {
    EXPECT_TRUE(std::is_sorted(part.begin(), part.end()));
    for (size_t i : part) {
      ASSERT_LT(i, num_samples);
      ++seen[i];
    }
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1),
            static_cast<long>(num_samples));
}

ClientIndices PartitionOrDie(const std::string& spec,
                             const std::vector<int32_t>& labels,
                             int32_t num_classes, int num_clients,
                             uint64_t seed) {
  absl::StatusOr<PartitionSpec> parsed = ParsePartitionSpec(spec);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<ClientIndices> parts =
      Partition(*parsed, labels, num_classes, num_clients, seed);
  EXPECT_TRUE(parts.ok()) << spec << ": " << parts.status();
  return parts.ok() ? *parts : ClientIndices();
}

const char* const kSpecs[] = {"iid",           "dirichlet:100", "dirichlet:0.5",
                              "dirichlet:0.1", "shards:1",      "shards:3"};

TEST(PartitionTest, EveryKindAssignsEachSampleExactlyOnce) {
  const std::vector<int32_t> balanced = BalancedLabels(6000, 10);
  const std::vector<int32_t> unbalanced = UnbalancedLabels();
  for (const char* spec : kSpecs) {
    for (uint64_t seed = 0; seed < 5; ++seed) {
      SCOPED_TRACE(testing::Message() << spec << " seed " << seed);
      ClientIndices parts = PartitionOrDie(spec, balanced, 10, 20, seed);
      EXPECT_EQ(parts.size(), 20u);
      ExpectEachSampleOnceInSortedParts(parts, balanced.size());
      parts = PartitionOrDie(spec, unbalanced, 5, 7, seed);
      EXPECT_EQ(parts.size(), 7u);
      ExpectEachSampleOnceInSortedParts(parts, unbalanced.size());
    }
  }
}

TEST(PartitionTest, SameSeedGivesSamePartitionAndOtherSeedAnother) {
  const std::vector<int32_t> labels = BalancedLabels(6000, 10);
  for (const char* spec : kSpecs) {
    SCOPED_TRACE(spec);
    EXPECT_EQ(PartitionOrDie(spec, labels, 10, 20, 42),
              PartitionOrDie(spec, labels, 10, 20, 42));
    EXPECT_NE(PartitionOrDie(spec, labels, 10, 20, 42),
              PartitionOrDie(spec, labels, 10, 20, 43));
  }
}

TEST(PartitionTest, IidPartSizesDifferByAtMostOne) {
  absl::StatusOr<ClientIndices> parts = PartitionIid(1003, 10, 7);
  ASSERT_TRUE(parts.ok()) << parts.status();
  for (const std::vector<size_t>& part : *parts) {
    EXPECT_GE(part.size(), 100u);
    EXPECT_LE(part.size(), 101u);
  }
}

TEST(PartitionTest, DirichletSkewGrowsAsAlphaShrinks) {
  const std::vector<int32_t> labels = BalancedLabels(60000, 10);
  double previous =
      MeanLabelSkew(*PartitionIid(labels.size(), 10, 1), labels, 10);
  EXPECT_LT(previous, 0.05);
  for (double alpha : {100.0, 1.0, 0.1}) {
    absl::StatusOr<ClientIndices> parts =
        PartitionDirichlet(labels, 10, 10, alpha, /*seed=*/1);
    ASSERT_TRUE(parts.ok()) << parts.status();
    const double skew = MeanLabelSkew(*parts, labels, 10);
    EXPECT_GT(skew, previous) << "alpha " << alpha;
    previous = skew;
  }
  EXPECT_GT(previous,
            0.5);  // alpha = 0.1: most clients dominated by a few classes.
}

TEST(PartitionTest, DirichletGivesEveryClientTheMinimum) {
  const std::vector<int32_t> labels = BalancedLabels(2000, 10);
  for (uint64_t seed = 0; seed < 5; ++seed) {
    absl::StatusOr<ClientIndices> parts = PartitionDirichlet(
        labels, 10, 20, 0.3, seed, /*min_samples_per_client=*/25);
    ASSERT_TRUE(parts.ok()) << parts.status();
    for (const std::vector<size_t>& part : *parts) EXPECT_GE(part.size(), 25u);
  }
}

TEST(PartitionTest, DirichletGivesUpWithClearErrorWhenMinimumUnreachable) {
  // With alpha this small each class goes to one client, so at most 10 of
  // the 20 clients can get any data.
  absl::StatusOr<ClientIndices> parts =
      PartitionDirichlet(BalancedLabels(2000, 10), 10, 20, 1e-4, 3);
  EXPECT_EQ(parts.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parts.status().message(), HasSubstr("at least 10 samples"));

  parts = PartitionDirichlet(BalancedLabels(100, 10), 10, 20, 1.0, 3);
  EXPECT_THAT(parts.status().message(), HasSubstr("need more than the 100"));
}

TEST(PartitionTest, ShardClientsHoldAtMostLabelsPerClientClasses) {
  const std::vector<int32_t> balanced = BalancedLabels(60000, 10);
  const std::vector<int32_t> unbalanced = UnbalancedLabels();
  for (int labels_per_client : {1, 2, 3}) {
    for (uint64_t seed = 0; seed < 3; ++seed) {
      for (const auto& [labels, classes, clients] :
           {std::tuple(&balanced, 10, 100), std::tuple(&unbalanced, 5, 7)}) {
        absl::StatusOr<ClientIndices> parts =
            PartitionShards(*labels, classes, clients, labels_per_client, seed);
        ASSERT_TRUE(parts.ok()) << parts.status();
        for (const std::vector<size_t>& part : *parts) {
          std::set<int32_t> distinct;
          for (size_t i : part) distinct.insert((*labels)[i]);
          EXPECT_LE(distinct.size(), static_cast<size_t>(labels_per_client));
        }
      }
    }
  }
}

TEST(PartitionTest, ShardsOfBalancedDataAreEqualAsInMcMahan) {
  // 100 clients x 2 shards of 300 samples, as in McMahan et al. 2017.
  absl::StatusOr<ClientIndices> parts =
      PartitionShards(BalancedLabels(60000, 10), 10, 100, 2, 5);
  ASSERT_TRUE(parts.ok()) << parts.status();
  for (const std::vector<size_t>& part : *parts) EXPECT_EQ(part.size(), 600u);
}

TEST(PartitionTest, ShardsRefuseFewerShardsThanClasses) {
  absl::StatusOr<ClientIndices> parts =
      PartitionShards(BalancedLabels(1000, 10), 10, 3, 3, 0);
  EXPECT_EQ(parts.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parts.status().message(),
              HasSubstr("cannot cover the 10 classes"));
}

TEST(PartitionTest, InvalidArgumentsAreErrorsNotCrashes) {
  const std::vector<int32_t> labels = BalancedLabels(50, 5);
  EXPECT_FALSE(PartitionIid(50, 0, 1).ok());
  EXPECT_FALSE(PartitionIid(50, 51, 1).ok());
  EXPECT_FALSE(PartitionIid(0, 1, 1).ok());
  EXPECT_FALSE(PartitionDirichlet(labels, 5, 2, 0.0, 1).ok());
  EXPECT_FALSE(PartitionDirichlet(labels, 4, 2, 1.0, 1).ok());  // Label 4.
  EXPECT_FALSE(PartitionDirichlet({0, -1, 0}, 2, 1, 1.0, 1, 1).ok());
  EXPECT_FALSE(PartitionShards(labels, 5, 2, 0, 1).ok());
  EXPECT_FALSE(PartitionShards(labels, 5, 30, 2, 1).ok());  // 60 shards > 50.
  EXPECT_FALSE(PartitionShards(labels, 5, -1, 2, 1).ok());
}

TEST(ParsePartitionSpecTest, AcceptsTheThreeKinds) {
  absl::StatusOr<PartitionSpec> spec = ParsePartitionSpec("iid");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->kind, PartitionSpec::Kind::kIid);
  spec = ParsePartitionSpec("dirichlet:0.3");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->kind, PartitionSpec::Kind::kDirichlet);
  EXPECT_DOUBLE_EQ(spec->alpha, 0.3);
  spec = ParsePartitionSpec("shards:4");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->kind, PartitionSpec::Kind::kShards);
  EXPECT_EQ(spec->labels_per_client, 4);
}

TEST(ParsePartitionSpecTest, RejectsMalformedSpecs) {
  for (const char* bad :
       {"dirichlet:0", "dirichlet:-1", "dirichlet:", "dirichlet",
        "dirichlet:nan", "dirichlet:inf", "shards:0", "shards:-2", "shards:1.5",
        "bogus", "", "iid:1", "IID"}) {
    absl::StatusOr<PartitionSpec> spec = ParsePartitionSpec(bad);
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(MeanLabelSkewTest, IsZeroWhenStratifiedAndMaximalWhenOneClassEach) {
  const std::vector<int32_t> labels = {0, 1, 0, 1};
  EXPECT_DOUBLE_EQ(MeanLabelSkew({{0, 1}, {2, 3}}, labels, 2), 0.0);
  EXPECT_DOUBLE_EQ(MeanLabelSkew({{0, 2}, {1, 3}}, labels, 2), 0.5);
}

}  // namespace
}  // namespace fedlearn
