// Property tests for the whole protocol (server + clients, in memory): over
// many seeds, cohort sizes 3..200 and random dropouts at every phase, the
// round either yields exactly the sum of the survivors' inputs mod 2^b, or
// aborts with a reason, precisely when an independent oracle says some
// needed secret has fewer than t live holders. The server never holds both
// secrets of a client.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "common/secagg/graph.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/secagg/secagg_harness.h"

namespace fedlearn::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// When a client stops answering.
enum class DropPoint {
  kNever,
  kBeforeAdvertising,
  kAfterAdvertising,  // never answers ShareKeysRequest
  kAfterSharingKeys,  // never sends its masked input
  kAfterMaskedInput,  // silent in the consistency check
  kAfterConsistency,  // silent in unmasking
};
constexpr int kNumDropPoints = 6;

bool DropsBefore(DropPoint d, SecAggServer::Phase phase) {
  switch (phase) {
    case SecAggServer::Phase::kShareKeys:
      return d == DropPoint::kAfterAdvertising;
    case SecAggServer::Phase::kMaskedInputCollection:
      return d == DropPoint::kAfterSharingKeys;
    case SecAggServer::Phase::kConsistencyCheck:
      return d == DropPoint::kAfterMaskedInput;
    case SecAggServer::Phase::kUnmasking:
      return d == DropPoint::kAfterConsistency;
    default:
      return false;
  }
}

// Independent model of who gets how far, and whether the server can finish.
bool OracleSucceeds(const SecAggGraph& graph, int t,
                    const std::vector<DropPoint>& drops) {
  const int n = static_cast<int>(drops.size());
  auto nbrs_in = [&](int u, const std::set<int>& s) {
    int c = 0;
    for (int v : graph.Neighbours(u)) c += s.count(v);
    return c;
  };
  std::set<int> u1;
  for (int i = 0; i < n; ++i) {
    if (drops[i] != DropPoint::kBeforeAdvertising) u1.insert(i);
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (auto it = u1.begin(); it != u1.end();) {
      if (nbrs_in(*it, u1) + 1 < t) {
        it = u1.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }
  if (static_cast<int>(u1.size()) < t) return false;
  std::set<int> u2;
  for (int u : u1) {
    if (drops[u] != DropPoint::kAfterAdvertising) u2.insert(u);
  }
  if (static_cast<int>(u2.size()) < t) return false;
  std::set<int> u3;
  for (int u : u2) {
    if (drops[u] != DropPoint::kAfterSharingKeys && nbrs_in(u, u2) + 1 >= t)
      u3.insert(u);
  }
  if (static_cast<int>(u3.size()) < t) return false;
  std::set<int> u4;
  for (int u : u3) {
    if (drops[u] != DropPoint::kAfterMaskedInput) u4.insert(u);
  }
  if (static_cast<int>(u4.size()) < t) return false;
  std::set<int> u5;
  for (int u : u4) {
    if (drops[u] != DropPoint::kAfterConsistency && nbrs_in(u, u4) + 1 >= t)
      u5.insert(u);
  }
  for (int u : u3) {
    if (nbrs_in(u, u5) + static_cast<int>(u5.count(u)) < t) return false;
  }
  for (int v : u2) {
    if (u3.count(v) || nbrs_in(v, u3) == 0) continue;
    if (nbrs_in(v, u5) < t) return false;
  }
  return true;
}

struct RunOutcome {
  bool completed = false;
  std::string abort_reason;
};

RunOutcome RunProtocol(Harness& h, const std::vector<DropPoint>& drops) {
  for (int i = 0; i < h.n(); ++i) {
    if (drops[i] != DropPoint::kBeforeAdvertising) h.Advertise(i);
  }
  EXPECT_TRUE(h.server->AllResponded() ||
              std::count(drops.begin(), drops.end(),
                         DropPoint::kBeforeAdvertising) > 0);
  absl::Status advanced = h.server->AdvancePhase();
  std::vector<bool> gone(h.n(), false);
  while (advanced.ok() &&
         h.server->phase() != SecAggServer::Phase::kCompleted) {
    const SecAggServer::Phase phase = h.server->phase();
    for (int i = 0; i < h.n(); ++i) {
      if (gone[i] || h.client_failed[i]) continue;
      if (DropsBefore(drops[i], phase)) {
        gone[i] = true;
        continue;
      }
      (void)h.DeliverPending(i);
    }
    advanced = h.server->AdvancePhase();
  }
  RunOutcome outcome;
  outcome.completed = h.server->phase() == SecAggServer::Phase::kCompleted;
  if (!outcome.completed) {
    EXPECT_EQ(h.server->phase(), SecAggServer::Phase::kAborted);
    outcome.abort_reason = std::string(h.server->abort_reason().message());
    // Every client hears the abort.
    for (int i = 0; i < h.n(); ++i) {
      auto pending = h.server->PendingMessageFor(h.id(i));
      EXPECT_TRUE(pending && pending->has_abort());
    }
  }
  return outcome;
}

struct Scenario {
  int n;
  int vector_length;
  int runs;
  double drop_rate;  // per client, spread over the six drop points
};

TEST(SecAggProtocolTest,
     SumIsExactOrRoundAbortsUnderRandomDropoutsAtEveryPhase) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Scenario> scenarios = {
      {3, 64, 12, 0.3},  {4, 64, 10, 0.3},  {5, 64, 10, 0.3},
      {7, 64, 8, 0.35},  {10, 64, 6, 0.25}, {13, 48, 4, 0.4},
      {20, 64, 3, 0.15}, {21, 32, 2, 0.1},  {30, 32, 2, 0.1},
      {50, 16, 1, 0.08}, {100, 16, 1, 0.1}, {200, 16, 1, 0.05},
  };
  std::mt19937_64 rng(20240611);
  int completed = 0, aborted = 0, total = 0;
  for (const Scenario& sc : scenarios) {
    const auto scenario_start = std::chrono::steady_clock::now();
    for (int run = 0; run < sc.runs; ++run) {
      SCOPED_TRACE(::testing::Message() << "n=" << sc.n << " run=" << run);
      int degree, threshold;
      if (sc.n <= kFullGraphMaxClients) {
        degree = sc.n - 1;
        threshold = (degree + 1) / 2 + 1;
      } else {
        auto gp = ChooseGraphParameters(sc.n, 0.05, 20);
        ASSERT_TRUE(gp.ok()) << gp.status();
        degree = gp->degree;
        threshold = gp->threshold;
      }
      const int bits_choices[] = {1, 8, 16, 20, 31, 32};
      const int bits = bits_choices[rng() % 6];
      Harness h(MakeConfig(rng, sc.n, degree, threshold, bits, sc.vector_length,
                           100 + run),
                rng);
      std::vector<DropPoint> drops(sc.n, DropPoint::kNever);
      std::uniform_real_distribution<double> coin(0, 1);
      for (DropPoint& d : drops) {
        if (coin(rng) < sc.drop_rate) {
          d = static_cast<DropPoint>(1 + rng() % (kNumDropPoints - 1));
        }
      }
      auto graph = SecAggGraph::Create(h.config.session_id(), sc.n, degree);
      ASSERT_TRUE(graph.ok());
      const bool expect_success = OracleSucceeds(*graph, threshold, drops);

      RunOutcome outcome = RunProtocol(h, drops);
      ++total;
      EXPECT_THAT(h.server->ClientsWithBothSecretsForTesting(), IsEmpty());
      EXPECT_EQ(outcome.completed, expect_success) << outcome.abort_reason;
      if (outcome.completed) {
        ++completed;
        const std::vector<std::string> survivors = h.server->Survivors();
        std::vector<uint32_t> expected(sc.vector_length, 0);
        int survivor_count = 0;
        for (int i = 0; i < sc.n; ++i) {
          const bool uploaded = !h.masked_inputs[i].empty();
          const bool listed =
              std::binary_search(survivors.begin(), survivors.end(), h.id(i));
          EXPECT_EQ(uploaded, listed) << h.id(i);
          if (!listed) continue;
          ++survivor_count;
          for (int j = 0; j < sc.vector_length; ++j)
            expected[j] += h.inputs[i][j];
        }
        const uint32_t mask =
            bits >= 32 ? 0xffffffffu : ((uint32_t{1} << bits) - 1);
        for (uint32_t& v : expected) v &= mask;
        EXPECT_GE(survivor_count, threshold);
        auto result = h.server->TakeResult();
        ASSERT_TRUE(result.ok()) << result.status();
        EXPECT_EQ(*result, expected);
        EXPECT_FALSE(h.server->TakeResult().ok());  // only once
      } else {
        ++aborted;
        EXPECT_FALSE(outcome.abort_reason.empty());
        EXPECT_THAT(outcome.abort_reason, HasSubstr("threshold"));
      }
    }
    std::printf("n=%d: %d runs in %.2f s\n", sc.n, sc.runs,
                std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                              scenario_start)
                    .count());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf("%d runs: %d completed, %d aborted, %.2f s\n", total, completed,
              aborted, seconds);
  EXPECT_GT(completed, total / 2);
  EXPECT_GT(aborted, 0);
}

TEST(SecAggProtocolTest, NoDropoutsSumsEveryInput) {
  std::mt19937_64 rng(1);
  Harness h(MakeConfig(rng, 6, 5, 4, 32, 1000), rng);
  RunOutcome outcome =
      RunProtocol(h, std::vector<DropPoint>(6, DropPoint::kNever));
  ASSERT_TRUE(outcome.completed) << outcome.abort_reason;
  EXPECT_EQ(h.server->Survivors().size(), 6u);
  std::vector<uint32_t> expected(1000, 0);
  for (const auto& x : h.inputs) {
    for (int j = 0; j < 1000; ++j) expected[j] += x[j];
  }
  EXPECT_EQ(*h.server->TakeResult(), expected);
}

TEST(SecAggProtocolTest, TooFewUnmaskingResponsesAbortWithReason) {
  std::mt19937_64 rng(2);
  Harness h(MakeConfig(rng, 7, 6, 4, 16, 32), rng);
  std::vector<DropPoint> drops(7, DropPoint::kNever);
  for (int i = 0; i < 4; ++i) drops[i] = DropPoint::kAfterConsistency;
  RunOutcome outcome = RunProtocol(h, drops);
  EXPECT_FALSE(outcome.completed);
  EXPECT_THAT(outcome.abort_reason,
              HasSubstr("only 3 shares arrived, threshold is 4"));
  EXPECT_FALSE(h.server->TakeResult().ok());
}

TEST(SecAggProtocolTest, TooFewMaskedInputsAbortWithReason) {
  std::mt19937_64 rng(3);
  Harness h(MakeConfig(rng, 7, 6, 4, 16, 32), rng);
  std::vector<DropPoint> drops(7, DropPoint::kNever);
  for (int i = 0; i < 4; ++i) drops[i] = DropPoint::kAfterSharingKeys;
  RunOutcome outcome = RunProtocol(h, drops);
  EXPECT_FALSE(outcome.completed);
  EXPECT_THAT(outcome.abort_reason,
              HasSubstr("only 3 clients sent masked inputs, threshold is 4"));
}

// Pearson's chi-square over 64 equal bins of one client's masked vector when
// its input is all zeros: with 64000 values, the statistic exceeds the 99.9%
// quantile of chi-square(63), 103.44, with probability 0.001 if the masked
// values are uniform.
TEST(SecAggProtocolTest, MaskedVectorOfZeroInputLooksUniform) {
  for (int bits : {32, 12}) {
    SCOPED_TRACE(bits);
    std::mt19937_64 rng(4 + bits);
    const int kLength = 64000;
    v1::SecAggConfig config = MakeConfig(rng, 5, 4, 3, bits, kLength);
    Harness h(config, rng);
    auto zero = SecAggClient::Create(config, TestPki::Get().Identity(0),
                                     std::vector<uint32_t>(kLength, 0));
    ASSERT_TRUE(zero.ok());
    h.clients[0] = *std::move(zero);
    RunOutcome outcome =
        RunProtocol(h, std::vector<DropPoint>(5, DropPoint::kNever));
    ASSERT_TRUE(outcome.completed);
    const std::vector<uint32_t>& masked = h.masked_inputs[0];
    ASSERT_EQ(masked.size(), static_cast<size_t>(kLength));
    std::vector<int> bins(64, 0);
    for (uint32_t v : masked) ++bins[v >> (bits - 6)];
    const double expected = kLength / 64.0;
    double chi2 = 0;
    for (int c : bins) chi2 += (c - expected) * (c - expected) / expected;
    EXPECT_LT(chi2, 103.44);
  }
}

}  // namespace
}  // namespace fedlearn::testing
