#include "common/secagg/graph.h"

#include <map>
#include <set>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

TEST(ChooseGraphParametersTest,
     SmallCohortsUseTheFullGraphWithMajorityThreshold) {
  for (int n = 3; n <= kFullGraphMaxClients; ++n) {
    absl::StatusOr<GraphParameters> p = ChooseGraphParameters(n, 0.1, 40);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_TRUE(p->full_graph());
    EXPECT_EQ(p->degree, n - 1);
    EXPECT_EQ(p->threshold, n / 2 + 1) << n;  // majority of n holders
  }
}

TEST(ChooseGraphParametersTest,
     LargeCohortsGetASparseGraphThatGrowsWithSecurityAndDropouts) {
  absl::StatusOr<GraphParameters> base = ChooseGraphParameters(1000, 0.1, 20);
  ASSERT_TRUE(base.ok());
  EXPECT_FALSE(base->full_graph());
  EXPECT_EQ(base->degree % 2, 0);
  EXPECT_LT(base->degree, 100);
  EXPECT_EQ(base->threshold, (base->degree + 1) / 2 + 1);
  EXPECT_GT(ChooseGraphParameters(1000, 0.1, 40)->degree, base->degree);
  EXPECT_GT(ChooseGraphParameters(1000, 0.3, 20)->degree, base->degree);
  // Logarithmic growth: 10x the clients costs only a few more neighbours.
  EXPECT_LE(ChooseGraphParameters(10000, 0.1, 20)->degree, base->degree + 8);
}

TEST(ChooseGraphParametersTest,
     ChosenDegreeMeetsTheFailureBoundAndTheNextSmallerDoesNot) {
  // Independent recomputation of P[Bin(k+1, 1-δ) < t] by direct summation.
  auto failure = [](int k, double delta) {
    const int t = (k + 1) / 2 + 1;
    double p = 0;
    for (int i = 0; i < t; ++i) {
      p += std::exp(std::lgamma(k + 2.0) - std::lgamma(i + 1.0) -
                    std::lgamma(k + 2.0 - i)) *
           std::pow(1 - delta, i) * std::pow(delta, k + 1 - i);
    }
    return p;
  };
  const int n = 500;
  const double delta = 0.1;
  const int bits = 30;
  absl::StatusOr<GraphParameters> p = ChooseGraphParameters(n, delta, bits);
  ASSERT_TRUE(p.ok());
  EXPECT_LE(n * failure(p->degree, delta), std::ldexp(1.0, -bits) * 1.0001);
  EXPECT_GT(n * failure(p->degree - 2, delta), std::ldexp(1.0, -bits));
}

TEST(ChooseGraphParametersTest,
     DegreeNeverFallsBelowTheLogarithmicSecurityFloor) {
  for (int n : {21, 100, 1000, 5000}) {
    absl::StatusOr<GraphParameters> p = ChooseGraphParameters(n, 0.0, 1);
    ASSERT_TRUE(p.ok());
    EXPECT_GE(p->degree,
              std::min(n - 1, 2 * static_cast<int>(std::ceil(std::log2(n)))))
        << n;
  }
}

TEST(ChooseGraphParametersTest, RefusesTooSmallCohortsAndMajorityDropouts) {
  EXPECT_FALSE(ChooseGraphParameters(2, 0.0, 40).ok());
  EXPECT_FALSE(ChooseGraphParameters(100, 0.5, 40).ok());
  EXPECT_FALSE(ChooseGraphParameters(100, -0.1, 40).ok());
  EXPECT_FALSE(ChooseGraphParameters(100, 0.1, 0).ok());
}

TEST(SecAggGraphTest, SparseGraphIsRegularSymmetricAndSessionDependent) {
  for (int n : {21, 50, 200}) {
    absl::StatusOr<SecAggGraph> g = SecAggGraph::Create("session-a", n, 10);
    ASSERT_TRUE(g.ok()) << g.status();
    for (int i = 0; i < n; ++i) {
      const std::vector<int>& nb = g->Neighbours(i);
      EXPECT_EQ(nb.size(), 10u);
      EXPECT_EQ(std::set<int>(nb.begin(), nb.end()).size(), nb.size());
      for (int j : nb) {
        EXPECT_NE(i, j);
        EXPECT_TRUE(g->AreNeighbours(j, i)) << i << "-" << j;
      }
    }
    // Same session, same graph; another session, another graph.
    absl::StatusOr<SecAggGraph> same = SecAggGraph::Create("session-a", n, 10);
    absl::StatusOr<SecAggGraph> other = SecAggGraph::Create("session-b", n, 10);
    bool identical = true, differs = false;
    for (int i = 0; i < n; ++i) {
      identical &= same->Neighbours(i) == g->Neighbours(i);
      differs |= other->Neighbours(i) != g->Neighbours(i);
    }
    EXPECT_TRUE(identical);
    EXPECT_TRUE(differs);
  }
}

TEST(SecAggGraphTest, FullGraphConnectsEveryone) {
  absl::StatusOr<SecAggGraph> g = SecAggGraph::Create("s", 7, 6);
  ASSERT_TRUE(g.ok());
  for (int i = 0; i < 7; ++i) EXPECT_EQ(g->Neighbours(i).size(), 6u);
}

TEST(SecAggGraphTest, RejectsOddSparseDegreesAndOutOfRangeDegrees) {
  EXPECT_FALSE(SecAggGraph::Create("s", 50, 9).ok());
  EXPECT_FALSE(SecAggGraph::Create("s", 50, 50).ok());
  EXPECT_FALSE(SecAggGraph::Create("s", 50, 0).ok());
  EXPECT_TRUE(SecAggGraph::Create("s", 6, 5).ok());  // full graph, odd is fine
}

}  // namespace
}  // namespace fedlearn
