// Mask regeneration on one core against all of them, in one run: the
// server's unmasking (survivors' self masks + each dropout's pairwise masks
// towards its surviving neighbours) and a client's k + 1 masks, expanded by
// MaskSet on a MaskWorkerPool with its thread limit set to 1, then to every
// thread, alternating. Also times the sequential per-mask loop the states
// used before MaskSet (AddSelfMask / AddPairwiseMask one after another), and
// checks that every variant leaves the same words.
//
// Only the mask work is timed: Shamir reconstruction, signature checks and
// the folding of masked inputs are not (secagg_bench --unmask-row times the
// whole round on the real state machines). X25519 key agreement for the
// pairwise seeds and HKDF are included, as in the states.
//
// Usage: unmask_bench [REPS]   (Release; REPS rounds per variant, default 3;
// about 40 s on 2 cores at the default)

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/crypto/key_agreement.h"
#include "common/secagg/graph.h"
#include "common/secagg/mask_worker_pool.h"
#include "common/secagg/masking.h"
#include "common/secagg/secagg_config.h"

#ifndef FEDLEARN_BENCH_BUILD_TYPE
#define FEDLEARN_BENCH_BUILD_TYPE "unknown"
#endif

namespace fedlearn {
namespace {

struct Cost {
  double wall = 0, cpu = 0;
};

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

Cost Time(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = CpuSeconds();
  f();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count(),
          CpuSeconds() - c0};
}

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
    std::exit(1);
  }
}

SecretBytes RandomSecret(std::mt19937_64& rng) {
  SecretBytes s(32);
  for (size_t i = 0; i < s.size(); ++i) s.data()[i] = rng() & 0xff;
  return s;
}

// One party's mask work: self masks (seed, owner, sign) and pairwise masks
// (key of `key_owner`, peer's public key, owner, peer, direction).
struct Workload {
  std::vector<std::pair<int, int>> self;  // (owner, sign)
  struct Pair {
    int key_owner, public_owner, owner, peer, direction;
  };
  std::vector<Pair> pairs;
};

struct Keys {
  std::vector<SecretBytes> seeds;
  std::vector<X25519KeyPair> pairs;
  std::vector<X25519PrivateKey> parsed;
};

Keys MakeKeys(int n) {
  std::mt19937_64 rng(42);
  Keys k;
  for (int i = 0; i < n; ++i) {
    k.seeds.push_back(RandomSecret(rng));
    auto pair = X25519KeyPairFromPrivate(RandomSecret(rng));
    Check(pair.status(), "X25519");
    k.pairs.push_back(*std::move(pair));
  }
  for (const X25519KeyPair& p : k.pairs) {
    auto key = X25519PrivateKey::Create(p.private_key);
    Check(key.status(), "X25519 parse");
    k.parsed.push_back(*std::move(key));
  }
  return k;
}

MaskSet BuildSet(const SecAggParameters& params, const Keys& keys,
                 const Workload& w) {
  MaskSet set(params);
  for (auto [owner, sign] : w.self) set.AddSelf(keys.seeds[owner], owner, sign);
  for (const Workload::Pair& p : w.pairs) {
    set.AddPairwise(keys.parsed[p.key_owner],
                    keys.pairs[p.public_owner].public_key, p.owner, p.peer,
                    p.direction);
  }
  return set;
}

// The pre-MaskSet loop: one AddSelfMask / AddPairwiseMask after another.
void Sequential(const SecAggParameters& params, const Keys& keys,
                const Workload& w, absl::Span<uint32_t> acc) {
  for (auto [owner, sign] : w.self) {
    Check(AddSelfMask(keys.seeds[owner], params, owner, sign, acc), "self");
  }
  for (const Workload::Pair& p : w.pairs) {
    Check(AddPairwiseMask(keys.parsed[p.key_owner],
                          keys.pairs[p.public_owner].public_key, params,
                          p.owner, p.peer, p.direction, acc),
          "pair");
  }
}

struct Row {
  std::string variant;
  std::vector<Cost> runs;
  Cost Median() const {
    std::vector<Cost> sorted = runs;
    std::sort(sorted.begin(), sorted.end(),
              [](const Cost& a, const Cost& b) { return a.wall < b.wall; });
    return sorted[sorted.size() / 2];
  }
  Cost Best() const {
    Cost best = runs.front();
    for (const Cost& c : runs) best = c.wall < best.wall ? c : best;
    return best;
  }
};

// Runs the variants `reps` times each, alternating, on copies of one input,
// and checks they all leave the same words.
void Compare(const char* title, const SecAggParameters& params,
             const Keys& keys, const Workload& w, size_t words, int reps) {
  MaskWorkerPool& pool = MaskWorkerPool::Shared();
  const int all = pool.threads();
  const MaskSet set = BuildSet(params, keys, w);
  std::vector<uint32_t> input(words);
  std::mt19937 rng(7);
  for (uint32_t& x : input) x = rng();
  std::vector<uint32_t> reference;
  std::vector<Row> rows = {
      {"sequential per-mask loop (before)", {}},
      {"MaskSet, 1 thread", {}},
      {"MaskSet, " + std::to_string(all) + " threads", {}}};
  std::vector<uint32_t> acc;
  for (int r = 0; r < reps; ++r) {
    for (size_t v = 0; v < rows.size(); ++v) {
      if (v == 2 && all == 1) continue;
      acc = input;
      pool.SetThreadLimit(v == 1 ? 1 : all);
      rows[v].runs.push_back(Time([&] {
        if (v == 0) {
          Sequential(params, keys, w, absl::MakeSpan(acc));
        } else {
          Check(set.ApplyTo(absl::MakeSpan(acc), pool), "MaskSet");
        }
      }));
      if (reference.empty()) reference = acc;
      if (acc != reference) {
        std::fprintf(stderr, "%s: variant %zu left different words\n", title,
                     v);
        std::exit(1);
      }
    }
  }
  pool.SetThreadLimit(all);
  std::printf(
      "\n### %s\n\n%zu masks (%zu self, %zu pairwise) over D = %zu "
      "words; %d runs each, alternating; identical words checked.\n\n",
      title, set.size(), w.self.size(), w.pairs.size(), words, reps);
  std::printf(
      "| variant | median wall s | median CPU s | best wall s | speed-up "
      "(median wall, vs MaskSet 1 thread) |\n|---|---:|---:|---:|---:|\n");
  const double base = rows[1].Median().wall;
  for (const Row& row : rows) {
    if (row.runs.empty()) continue;
    std::printf("| %s | %.4f | %.4f | %.4f | %.2fx |\n", row.variant.c_str(),
                row.Median().wall, row.Median().cpu, row.Best().wall,
                base / row.Median().wall);
  }
}

SecAggParameters Params(int n, int degree) {
  v1::SecAggConfig c;
  c.set_session_id(std::string(32, 'u'));
  c.set_round(1);
  char id[32];
  for (int i = 0; i < n; ++i) {
    std::snprintf(id, sizeof(id), "client-%04d", i);
    c.add_cohort(id);
  }
  c.set_degree(degree);
  c.set_threshold(degree / 2 + 1);
  c.set_modulus_bits(32);
  c.set_vector_length(1000000);
  auto p = SecAggParameters::FromProto(c);
  Check(p.status(), "params");
  return *std::move(p);
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) {
  using namespace fedlearn;
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  std::printf(
      "# unmask_bench\n\n- build type: %s\n- cores: %ld online; mask "
      "pool: %d threads\n- CPU = process CPU time (workers "
      "included)\n",
      FEDLEARN_BENCH_BUILD_TYPE, sysconf(_SC_NPROCESSORS_ONLN),
      MaskWorkerPool::Shared().threads());
  constexpr size_t kWords = 1000000;

  // Server: n = 1000, the product's graph, 10% dropout spread evenly (as
  // secagg_bench drops them): every survivor's self mask, and for each
  // dropout v the pairwise masks its surviving neighbours u added.
  const int n = 1000;
  auto gp = ChooseGraphParameters(n, 0.1, 20);
  Check(gp.status(), "graph parameters");
  const SecAggParameters server_params = Params(n, gp->degree);
  std::vector<bool> dropped(n, false);
  for (int j = 0; j < n / 10; ++j) dropped[(j * n) / (n / 10)] = true;
  Workload server;
  for (int u = 0; u < n; ++u) {
    if (!dropped[u]) server.self.emplace_back(u, -1);
  }
  for (int v = 0; v < n; ++v) {
    if (!dropped[v]) continue;
    for (int u : server_params.graph.Neighbours(v)) {
      if (!dropped[u]) server.pairs.push_back({v, u, u, v, -1});
    }
  }
  const Keys keys = MakeKeys(n);
  char title[160];
  std::snprintf(title, sizeof(title),
                "Server unmasking: n = %d, k = %d, D = 1e6, 10%% dropout", n,
                gp->degree);
  Compare(title, server_params, keys, server, kWords, reps);

  // Client: n = 100, k = 16 (the row): its self mask and one
  // pairwise mask per neighbour (all 16 sent shares).
  const SecAggParameters client_params = Params(100, 16);
  Workload client;
  client.self.emplace_back(0, +1);
  for (int v : client_params.graph.Neighbours(0)) {
    client.pairs.push_back({0, v, 0, v, +1});
  }
  Compare("Client masking: n = 100, k = 16, D = 1e6 (k + 1 = 17 masks)",
          client_params, keys, client, kWords, std::max(reps, 15));
  return 0;
}
