// MaskSet (parallel mask expansion) against the sequential AddSelfMask /
// AddPairwiseMask path, and the MaskWorkerPool it runs on.
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "common/crypto/key_agreement.h"
#include "common/crypto/mask_prg.h"
#include "common/secagg/canonical_bytes.h"
#include "common/secagg/mask_worker_pool.h"
#include "common/secagg/masking.h"
#include "common/util/status_macros.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

SecAggParameters Params(int modulus_bits) {
  v1::SecAggConfig c;
  c.set_session_id(std::string(32, '\x5a'));
  c.set_round(7);
  for (const char* id : {"a", "b", "c", "d", "e", "f"}) c.add_cohort(id);
  c.set_degree(5);
  c.set_threshold(4);
  c.set_modulus_bits(modulus_bits);
  c.set_vector_length(10);
  auto p = SecAggParameters::FromProto(c);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

SecretBytes RandomSecret(std::mt19937& rng) {
  SecretBytes s(32);
  for (size_t i = 0; i < s.size(); ++i) s.data()[i] = rng() & 0xff;
  return s;
}

// Six parties: self masks of 0..5 and pairwise masks of party 2 (owner)
// towards every other party, with both directions, as the client (+1) and
// the server (-1) add them.
struct Fixture {
  std::vector<SecretBytes> seeds;
  std::vector<X25519KeyPair> pairs;
  std::vector<X25519PrivateKey> keys;

  explicit Fixture(uint32_t seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 6; ++i) {
      seeds.push_back(RandomSecret(rng));
      auto pair = X25519KeyPairFromPrivate(RandomSecret(rng));
      EXPECT_TRUE(pair.ok());
      pairs.push_back(*std::move(pair));
    }
    for (const X25519KeyPair& p : pairs) {
      auto key = X25519PrivateKey::Create(p.private_key);
      EXPECT_TRUE(key.ok());
      keys.push_back(*std::move(key));
    }
  }
  MaskSet Set(const SecAggParameters& params) const {
    MaskSet set(params);
    for (int i = 0; i < 6; ++i) set.AddSelf(seeds[i], i, i % 2 ? -1 : +1);
    for (int v = 0; v < 6; ++v) {
      if (v == 2) continue;
      set.AddPairwise(keys[2], pairs[v].public_key, 2, v, v < 4 ? +1 : -1);
    }
    return set;
  }
  absl::Status Sequential(const SecAggParameters& params,
                          absl::Span<uint32_t> acc) const {
    for (int i = 0; i < 6; ++i) {
      RETURN_IF_ERROR(AddSelfMask(seeds[i], params, i, i % 2 ? -1 : +1, acc));
    }
    for (int v = 0; v < 6; ++v) {
      if (v == 2) continue;
      RETURN_IF_ERROR(AddPairwiseMask(keys[2], pairs[v].public_key, params, 2,
                                      v, v < 4 ? +1 : -1, acc));
    }
    return absl::OkStatus();
  }
};

std::vector<uint32_t> RandomVector(size_t words, uint32_t mask,
                                   std::mt19937& rng) {
  std::vector<uint32_t> v(words);
  for (uint32_t& x : v) x = rng() & mask;
  return v;
}

TEST(MaskSetTest, ParallelResultEqualsSequentialForAnyThreadCount) {
  const Fixture f(1);
  std::mt19937 rng(2);
  std::vector<std::unique_ptr<MaskWorkerPool>> pools;
  for (int threads : {1, 2, 3, 4, 7}) {
    pools.push_back(std::make_unique<MaskWorkerPool>(threads));
  }
  // Sizes: empty, below the thread count, ragged against AES blocks, range
  // sizes and the 4 KiB chunk, several ranges with a ragged last one.
  for (size_t words : {0u, 1u, 3u, 17u, 4095u, 4097u, 65539u, 300007u}) {
    for (int bits : {16, 20, 32}) {
      const SecAggParameters params = Params(bits);
      const std::vector<uint32_t> input =
          RandomVector(words, params.modulus_mask(), rng);
      std::vector<uint32_t> expected = input;
      ASSERT_TRUE(f.Sequential(params, absl::MakeSpan(expected)).ok());
      ReduceModulo(absl::MakeSpan(expected), params.modulus_mask());
      const MaskSet set = f.Set(params);
      for (const auto& pool : pools) {
        std::vector<uint32_t> acc = input;
        ASSERT_TRUE(set.ApplyTo(absl::MakeSpan(acc), *pool).ok());
        ReduceModulo(absl::MakeSpan(acc), params.modulus_mask());
        ASSERT_EQ(acc, expected) << words << " words, b = " << bits << ", "
                                 << pool->threads() << " threads";
      }
    }
  }
}

TEST(MaskSetTest, RangeSplitDoesNotDivideTheVectorAndStillCoversIt) {
  // 300007 words on 2 threads: ranges of 37504 words, a ragged last one.
  EXPECT_EQ(MaskSet::RangeWords(300007, 2) % 16, 0u);
  EXPECT_NE(300007 % MaskSet::RangeWords(300007, 2), 0u);
  EXPECT_EQ(MaskSet::RangeWords(1, 8), 4096u);
  EXPECT_EQ(MaskSet::RangeWords(size_t{1} << 30, 2), size_t{1} << 17);
}

TEST(MaskSetTest, FusedExpansionEqualsExpandThenAdd) {
  // The previous client code expanded each mask into its own buffer, then
  // added it: the fused path must give the same words.
  const Fixture f(3);
  const SecAggParameters params = Params(32);
  std::mt19937 rng(4);
  const size_t words = 100003;
  std::vector<uint32_t> acc = RandomVector(words, 0xffffffffu, rng);
  std::vector<uint32_t> expected = acc;
  std::vector<uint32_t> mask(words);
  ASSERT_TRUE(
      ExpandMask(f.seeds[0],
                 MaskDomain(params.session_id, params.round, MaskKind::kSelf,
                            kSecAggUpdateVectorName, 4, 4),
                 absl::MakeSpan(mask))
          .ok());
  for (size_t i = 0; i < words; ++i) expected[i] += mask[i];
  MaskSet set(params);
  set.AddSelf(f.seeds[0], 4, +1);
  MaskWorkerPool pool(2);
  ASSERT_TRUE(set.ApplyTo(absl::MakeSpan(acc), pool).ok());
  EXPECT_EQ(acc, expected);
}

TEST(MaskSetTest, BadPeerKeyOrSeedFailsAndLeavesAccumulatorUntouched) {
  const Fixture f(5);
  const SecAggParameters params = Params(32);
  MaskWorkerPool pool(2);
  const std::vector<uint32_t> original(5000, 9);
  {
    MaskSet set = f.Set(params);
    set.AddPairwise(f.keys[0], std::string(31, 'x'), 0, 1, +1);  // short
    std::vector<uint32_t> acc = original;
    EXPECT_EQ(set.ApplyTo(absl::MakeSpan(acc), pool).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(acc, original);
  }
  {
    MaskSet set(params);
    set.AddPairwise(f.keys[0], std::string(32, '\0'), 0, 1, +1);  // low order
    std::vector<uint32_t> acc = original;
    EXPECT_FALSE(set.ApplyTo(absl::MakeSpan(acc), pool).ok());
    EXPECT_EQ(acc, original);
  }
  {
    MaskSet set(params);
    set.AddSelf(SecretBytes(16), 0, +1);
    set.AddSelf(f.seeds[0], 1, 2);  // bad sign
    std::vector<uint32_t> acc = original;
    EXPECT_EQ(set.ApplyTo(absl::MakeSpan(acc), pool).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(acc, original);
  }
}

TEST(MaskWorkerPoolTest, RunsEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    MaskWorkerPool pool(threads);
    for (size_t count : {0u, 1u, 2u, 3u, 1000u}) {
      std::vector<std::atomic<int>> hits(count);
      pool.ParallelFor(count, [&](size_t i) { hits[i].fetch_add(1); });
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(hits[i].load(), 1) << i << " of " << count;
      }
    }
  }
}

TEST(MaskWorkerPoolTest, ConcurrentCallersAllComplete) {
  MaskWorkerPool pool(2);
  std::vector<std::thread> callers;
  std::vector<std::atomic<int>> sums(4);
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 50; ++round) {
        pool.ParallelFor(
            37, [&](size_t i) { sums[c].fetch_add(static_cast<int>(i) + 1); });
      }
    });
  }
  for (std::thread& t : callers) t.join();
  for (int c = 0; c < 4; ++c) EXPECT_EQ(sums[c].load(), 50 * 37 * 38 / 2);
}

TEST(MaskWorkerPoolTest, ThreadLimitOneRunsEverythingOnTheCaller) {
  MaskWorkerPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  pool.SetThreadLimit(1);
  EXPECT_EQ(pool.thread_limit(), 1);
  std::mutex mu;
  std::set<std::thread::id> seen;
  pool.ParallelFor(200, [&](size_t) {
    std::lock_guard<std::mutex> lock(mu);
    seen.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(seen, std::set<std::thread::id>{std::this_thread::get_id()});
  pool.SetThreadLimit(100);
  EXPECT_EQ(pool.thread_limit(), 3);
  pool.SetThreadLimit(0);
  EXPECT_EQ(pool.thread_limit(), 1);
}

TEST(MaskWorkerPoolTest, SharedPoolIsSizedByCoresAndCapped) {
  const int threads = MaskWorkerPool::Shared().threads();
  EXPECT_GE(threads, 1);
  EXPECT_LE(threads, MaskWorkerPool::kMaxSharedThreads);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (cores > 0) {
    EXPECT_EQ(threads, std::min(cores, MaskWorkerPool::kMaxSharedThreads));
  }
}

}  // namespace
}  // namespace fedlearn
