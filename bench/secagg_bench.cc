// Cost of one secure-aggregation round, measured on the real client and
// server state machines (client/secagg, server/secagg) driven in memory, the
// way the in-process harness (tests/server/secagg/secagg_harness.h) drives
// them: no sockets, messages handed over by hand. Prints Markdown tables:
//
//   1. Per-client and server cost per round for n in {10, 100, 500, 1000},
//      D in {1e5, 1e6}, 0% and 10% dropout (the dropouts answer ShareKeys,
//      then vanish: the server must rebuild their masking keys and remove
//      their pairwise masks from every surviving neighbour, its most
//      expensive case), full graph (plain SecAgg, k = n - 1) vs SecAgg+ with
//      the product's parameters, ChooseGraphParameters(n, 0.1, 20). Plus the
//      issue's comparison row: n = 100, k = 16, D = 1e6, 10% dropout.
//      Client cost: mean wall time of one surviving client's Start() and
//      Handle() calls over all phases. Server cost: total wall time inside
//      SecAggServer calls (Create, HandleMessage, HandleMaskedInput,
//      PendingMessageFor, AdvancePhase, TakeResult) for the round. Neither
//      counts training, input encoding or certificate issuance (setup).
//      Every round that runs is checked: the result must equal the sum of the
//      survivors' inputs.
//   2. Mask expansion (AddMask) throughput against this machine's AES-CTR
//      speed, as in mask_prg_bench.
//   3. Communication expansion: bytes a client sends (serialized protobuf
//      messages plus 4 bytes per masked value, what the transport puts on
//      the wire at b = 32) over 4 * D, the float update; for the paper's
//      16-bit anchor both unpacked (4 B) and packed (2 B) values.
//
// A full graph at n >= 500 costs ~n^2 mask expansions plus n^2 certificate
// checks and O(n^2 t) Shamir work, far beyond the bench's budget: those
// cells are skipped and replaced by a PRG-only lower bound from the measured
// per-expansion cost. SecAgg+ cells at n >= 500 with D = 1e6 run when the
// remaining time budget allows; otherwise they are estimated from the
// D = 1e5 measurement by scaling its D-dependent part linearly. Estimates
// are always marked.
//
// Mask expansion (client and server) runs on MaskWorkerPool::Shared();
// `--threads N` caps it (1 = the old single-threaded figures). CPU times are
// the process's, so they include the pool's workers.
//
// Usage: secagg_bench [--threads N]   (Release build; about 5-8 minutes on 2
// cores; peak memory ~4.5 GB, n * D inputs held at once)
//        secagg_bench --issue-row      (the issue row, 1 thread vs all, ~30 s)
//        secagg_bench --unmask-row     (n = 1000, D = 1e6, 10% dropout: the
//                                       server, 1 thread vs all, ~3 minutes)

#include <openssl/evp.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "bench/prg_reference.h"
#include "client/secagg/secagg_client.h"
#include "common/crypto/mask_prg.h"
#include "common/crypto/secret_bytes.h"
#include "common/secagg/graph.h"
#include "common/secagg/mask_worker_pool.h"
#include "common/tls/cert_authority.h"
#include "server/secagg/secagg_server.h"

#ifndef FEDLEARN_BENCH_BUILD_TYPE
#define FEDLEARN_BENCH_BUILD_TYPE "unknown"
#endif

namespace fedlearn {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The process's CPU time: the bench thread plus the mask pool's workers
// (single-threaded, as before the pool, it equals the thread's).
double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Wall and CPU seconds. On a shared machine wall time includes waiting for
// a core; CPU time does not, so both are reported. With more than one mask
// thread, wall < CPU is the parallel speed-up.
struct Cost {
  double wall = 0, cpu = 0;
  Cost& operator+=(const Cost& o) {
    wall += o.wall;
    cpu += o.cpu;
    return *this;
  }
};
Cost operator+(Cost a, const Cost& b) { return a += b; }
Cost operator-(Cost a, const Cost& b) {
  return Cost{a.wall - b.wall, a.cpu - b.cpu};
}
Cost operator*(Cost a, double f) { return Cost{a.wall * f, a.cpu * f}; }

template <typename Fn>
void Timed(Cost* acc, Fn&& f) {
  const auto t0 = Clock::now();
  const double c0 = CpuSeconds();
  f();
  acc->cpu += CpuSeconds() - c0;
  acc->wall += Seconds(t0);
}

// Wall-time budget for the round cells; the optional large cells run only
// while the prediction fits.
constexpr double kBudgetSeconds = 390;
constexpr int kMaxClients = 1000;

// ---------------------------------------------------------------- setup --

// One CA and kMaxClients client certificates, issued once (setup, untimed).
// Ids have four digits so message sizes match the 2^10-client anchor.
struct Pki {
  PemKeyPair ca;
  std::vector<PemKeyPair> clients;

  static std::string ClientId(int i) {
    return absl::StrFormat("client-%04d", i);
  }
  SecAggIdentity Identity(int i) const {
    return SecAggIdentity{ClientId(i), clients[i].cert_pem,
                          clients[i].key_pem.Clone(), ca.cert_pem,
                          /*signing_key=*/nullptr};
  }
};

Pki IssuePki(int n) {
  Pki pki;
  auto ca = CreateCertificateAuthority("secagg-bench-ca", 2);
  if (!ca.ok()) {
    std::fprintf(stderr, "CA: %s\n",
                 std::string(ca.status().message()).c_str());
    std::exit(1);
  }
  pki.ca = *std::move(ca);
  for (int i = 0; i < n; ++i) {
    auto c = IssueClientCertificate(pki.ca, Pki::ClientId(i), 2);
    if (!c.ok()) {
      std::fprintf(stderr, "cert: %s\n",
                   std::string(c.status().message()).c_str());
      std::exit(1);
    }
    pki.clients.push_back(*std::move(c));
  }
  return pki;
}

// xorshift64*: inputs only need to be arbitrary, not secret, and fast to make.
struct FastRng {
  uint64_t s;
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
  }
};

// ------------------------------------------------------------- one round --

struct RoundSpec {
  int n = 0;
  int degree = 0;
  int threshold = 0;
  uint64_t vector_length = 0;
  double dropout = 0;  // fraction of clients that vanish after ShareKeys
  int modulus_bits = 32;
};

// Bytes one client sends, by message (survivors only, averaged).
struct SentBytes {
  double advertise = 0;
  double share_keys = 0;
  double share_keys_per_entry = 0;  // one EncryptedKeyShares, with its framing
  double consistency = 0;
  double unmasking = 0;
  double unmasking_per_entry = 0;  // one RevealedShare, with its framing
  double entries_share_keys = 0;   // neighbours it dealt shares to
  double entries_unmasking = 0;    // shares revealed (neighbours + itself)
  double Messages() const {
    return advertise + share_keys + consistency + unmasking;
  }
};

struct RoundResult {
  bool ok = false;
  std::string error;
  Cost client_ms;  // mean over survivors
  Cost server_s;
  Cost unmask_s;      // the AdvancePhase that closes Unmasking (in server_s)
  double wall_s = 0;  // including input generation and checking
  int survivors = 0;
  SentBytes sent;
};

RoundResult RunRound(const Pki& pki, const RoundSpec& spec, uint64_t seed) {
  const auto wall_start = Clock::now();
  RoundResult result;
  FastRng rng{seed * 0x9E3779B97F4A7C15ULL + 1};
  v1::SecAggConfig config;
  std::string session(32, '\0');
  for (char& c : session) c = static_cast<char>(rng.Next());
  config.set_session_id(session);
  config.set_round(1);
  for (int i = 0; i < spec.n; ++i) config.add_cohort(Pki::ClientId(i));
  config.set_degree(spec.degree);
  config.set_threshold(spec.threshold);
  config.set_modulus_bits(spec.modulus_bits);
  config.set_vector_length(spec.vector_length);
  const uint32_t mask = spec.modulus_bits >= 32
                            ? 0xffffffffu
                            : ((uint32_t{1} << spec.modulus_bits) - 1);

  // Dropouts spread evenly over the cohort (and so over the random graph).
  const int num_drops = static_cast<int>(std::lround(spec.n * spec.dropout));
  std::vector<bool> drops(spec.n, false);
  for (int j = 0; j < num_drops; ++j)
    drops[(j * spec.n) / std::max(num_drops, 1)] = true;

  Cost server_s;
  std::vector<Cost> client_s(spec.n);
  auto timed = [](Cost* acc, auto&& f) { Timed(acc, f); };
  auto fail = [&](std::string what) {
    result.ok = false;
    result.error = std::move(what);
    result.wall_s = Seconds(wall_start);
    return result;
  };

  std::unique_ptr<SecAggServer> server;
  {
    absl::StatusOr<std::unique_ptr<SecAggServer>> s;
    timed(&server_s, [&] { s = SecAggServer::Create(config); });
    if (!s.ok()) return fail(std::string(s.status().message()));
    server = *std::move(s);
  }
  // Inputs (untimed: this is the encoded update training produced).
  std::vector<uint32_t> expected(spec.vector_length, 0);
  std::vector<std::unique_ptr<SecAggClient>> clients(spec.n);
  for (int i = 0; i < spec.n; ++i) {
    std::vector<uint32_t> x(spec.vector_length);
    for (size_t j = 0; j + 1 < x.size(); j += 2) {
      const uint64_t r = rng.Next();
      x[j] = static_cast<uint32_t>(r) & mask;
      x[j + 1] = static_cast<uint32_t>(r >> 32) & mask;
    }
    if (x.size() % 2) x.back() = static_cast<uint32_t>(rng.Next()) & mask;
    if (!drops[i]) {
      for (size_t j = 0; j < x.size(); ++j) expected[j] += x[j];
    }
    // Create is timed: it parses the CA and the signing key, per-round work.
    SecAggIdentity identity = pki.Identity(i);
    absl::StatusOr<std::unique_ptr<SecAggClient>> c;
    timed(&client_s[i], [&] {
      c = SecAggClient::Create(config, std::move(identity), std::move(x));
    });
    if (!c.ok()) return fail(std::string(c.status().message()));
    clients[i] = *std::move(c);
  }

  std::vector<SentBytes> sent(spec.n);
  auto record = [&](int i, const v1::SecAggClientMessage& m) {
    SentBytes& b = sent[i];
    const double size = static_cast<double>(m.ByteSizeLong());
    if (m.has_advertise_keys()) {
      b.advertise += size;
    } else if (m.has_share_keys_response()) {
      b.share_keys += size;
      const int count = m.share_keys_response().shares_size();
      if (count > 0) {
        v1::SecAggClientMessage empty = m;
        empty.mutable_share_keys_response()->clear_shares();
        b.share_keys_per_entry = (size - empty.ByteSizeLong()) / count;
      }
      b.entries_share_keys = count;
    } else if (m.has_consistency_check_response()) {
      b.consistency += size;
    } else if (m.has_unmasking_response()) {
      b.unmasking += size;
      const int count = m.unmasking_response().shares_size();
      if (count > 0) {
        v1::SecAggClientMessage empty = m;
        empty.mutable_unmasking_response()->clear_shares();
        b.unmasking_per_entry = (size - empty.ByteSizeLong()) / count;
      }
      b.entries_unmasking = count;
    }
  };

  for (int i = 0; i < spec.n; ++i) {
    absl::StatusOr<v1::SecAggClientMessage> m;
    timed(&client_s[i], [&] { m = clients[i]->Start(); });
    if (!m.ok()) return fail(std::string(m.status().message()));
    record(i, *m);
    absl::Status s;
    timed(&server_s, [&] { s = server->HandleMessage(config.cohort(i), *m); });
    if (!s.ok()) return fail(std::string(s.message()));
  }
  {
    absl::Status s;
    timed(&server_s, [&] { s = server->AdvancePhase(); });
    if (!s.ok()) return fail(std::string(s.message()));
  }
  while (server->phase() != SecAggServer::Phase::kCompleted &&
         server->phase() != SecAggServer::Phase::kAborted) {
    const SecAggServer::Phase phase = server->phase();
    for (int i = 0; i < spec.n; ++i) {
      if (drops[i] && phase != SecAggServer::Phase::kShareKeys) {
        clients[i].reset();  // gone after sharing keys; frees its input
        continue;
      }
      std::optional<v1::SecAggServerMessage> pending;
      timed(&server_s,
            [&] { pending = server->PendingMessageFor(config.cohort(i)); });
      if (!pending) continue;
      absl::StatusOr<SecAggClient::Reply> reply;
      timed(&client_s[i], [&] { reply = clients[i]->Handle(*pending); });
      if (!reply.ok()) {
        return fail(
            absl::StrCat(config.cohort(i), ": ", reply.status().message()));
      }
      absl::Status s;
      timed(&server_s, [&] {
        if (reply->message)
          s = server->HandleMessage(config.cohort(i), *reply->message);
        if (s.ok() && reply->masked_input) {
          s = server->HandleMaskedInput(config.cohort(i), *reply->masked_input);
        }
      });
      if (!s.ok()) return fail(std::string(s.message()));
      if (reply->message) record(i, *reply->message);
    }
    absl::Status s;
    Cost advance;
    timed(&advance, [&] { s = server->AdvancePhase(); });
    server_s += advance;
    if (phase == SecAggServer::Phase::kUnmasking) result.unmask_s = advance;
    if (!s.ok()) return fail(absl::StrCat("round aborted: ", s.message()));
  }
  absl::StatusOr<std::vector<uint32_t>> sum;
  timed(&server_s, [&] { sum = server->TakeResult(); });
  if (!sum.ok()) return fail(std::string(sum.status().message()));
  for (uint32_t& v : expected) v &= mask;
  if (*sum != expected) return fail("WRONG SUM");

  result.ok = true;
  result.server_s = server_s;
  Cost client_total;
  for (int i = 0; i < spec.n; ++i) {
    if (drops[i]) continue;
    ++result.survivors;
    client_total += client_s[i];
    const SentBytes& b = sent[i];
    SentBytes& r = result.sent;
    r.advertise += b.advertise;
    r.share_keys += b.share_keys;
    r.share_keys_per_entry += b.share_keys_per_entry;
    r.consistency += b.consistency;
    r.unmasking += b.unmasking;
    r.unmasking_per_entry += b.unmasking_per_entry;
    r.entries_share_keys += b.entries_share_keys;
    r.entries_unmasking += b.entries_unmasking;
  }
  const double k = result.survivors;
  SentBytes& r = result.sent;
  for (double* v : {&r.advertise, &r.share_keys, &r.share_keys_per_entry,
                    &r.consistency, &r.unmasking, &r.unmasking_per_entry,
                    &r.entries_share_keys, &r.entries_unmasking}) {
    *v /= k;
  }
  result.client_ms = client_total * (1e3 / result.survivors);
  result.wall_s = Seconds(wall_start);
  return result;
}

// ---------------------------------------------------------- throughput --

using bench::AddMaskSeconds;
using bench::EvpAes128CtrGbps;

// ------------------------------------------------------------- tables --

std::string Ms(double ms) {
  return ms >= 100 ? absl::StrFormat("%.0f", ms) : absl::StrFormat("%.1f", ms);
}
std::string Sec(double s) {
  return s >= 10 ? absl::StrFormat("%.1f", s) : absl::StrFormat("%.3f", s);
}
// "wall / cpu"
std::string Ms(const Cost& c) { return Ms(c.wall) + " / " + Ms(c.cpu); }
std::string Sec(const Cost& c) { return Sec(c.wall) + " / " + Sec(c.cpu); }

struct Cell {
  int n = 0;
  uint64_t d = 0;
  double dropout = 0;
  bool full = false;
  int degree = 0, threshold = 0;
  enum class Kind {
    kMeasured,
    kEstimatedScaled,
    kSkipped
  } kind = Kind::kMeasured;
  RoundResult measured;
  Cost est_client_ms, est_server_s;
};

// Mask expansions of a round: each surviving client expands 1 self mask and
// one pairwise mask per neighbour; the server expands each survivor's self
// mask and, per dropout, one pairwise mask per surviving neighbour.
struct Expansions {
  double per_client = 0;
  double server = 0;
};
Expansions CountExpansions(int n, int degree, double dropout) {
  const double d = std::lround(n * dropout);
  Expansions e;
  e.per_client = degree + 1;
  e.server = (n - d) + d * degree * (n - d) / std::max(n - 1, 1);
  return e;
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) {
  using namespace fedlearn;
  // --issue-row: only the issue's comparison table (k = 16 and the product's
  // k), for checking the target quickly.
  // --unmask-row: only the server at n = 1000, D = 1e6, 10% dropout, one
  // mask thread against all of them. --threads N: cap the mask pool.
  bool issue_row_only = false, unmask_row_only = false;
  int threads_arg = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--issue-row") {
      issue_row_only = true;
    } else if (arg == "--unmask-row") {
      unmask_row_only = true;
    } else if (arg == "--threads" && i + 1 < argc) {
      threads_arg = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--issue-row | --unmask-row] [--threads N]\n",
                   argv[0]);
      return 2;
    }
  }
  MaskWorkerPool& pool = MaskWorkerPool::Shared();
  pool.SetThreadLimit(threads_arg > 0 ? threads_arg : pool.threads());
  const int all_threads = pool.thread_limit();
  const auto bench_start = Clock::now();
  std::printf("# secagg_bench\n\n");
  std::printf("- build type: %s\n", FEDLEARN_BENCH_BUILD_TYPE);
  std::printf(
      "- cores: %ld online; mask expansion on %d of the pool's %d threads "
      "(CPU times are the process's, workers included)\n",
      sysconf(_SC_NPROCESSORS_ONLN), all_threads, pool.threads());
  std::printf(
      "- modulus b = 32 unless stated; dropouts vanish after ShareKeys\n\n");
  std::fflush(stdout);

  // ---- 2. mask expansion throughput (first: the estimates need it) ----
  // Not needed for the issue row alone.
  const bool quick = issue_row_only || unmask_row_only;
  const double evp_gbps = quick ? 0 : EvpAes128CtrGbps();
  const double t_exp_1e5 = quick ? 0 : AddMaskSeconds(100000);
  const double t_exp_1e6 = quick ? 0 : AddMaskSeconds(1000000);
  const double t_exp_1e7 = quick ? 0 : AddMaskSeconds(10000000);
  auto t_exp = [&](uint64_t d) {
    return d >= 1000000 ? t_exp_1e6 * (d / 1e6) : t_exp_1e5 * (d / 1e5);
  };

  std::fprintf(stderr, "issuing %d client certificates (setup)...\n",
               kMaxClients);
  const Pki pki = IssuePki(kMaxClients);

  // ---- 1. round cost ----
  std::vector<Cell> cells;
  for (uint64_t d : {uint64_t{100000}, uint64_t{1000000}}) {
    for (int n : {10, 100, 500, 1000}) {
      for (double dropout : {0.0, 0.1}) {
        for (bool full : {true, false}) {
          Cell c;
          c.n = n;
          c.d = d;
          c.dropout = dropout;
          c.full = full;
          if (full) {
            c.degree = n - 1;
            c.threshold = (c.degree + 1) / 2 + 1;
          } else {
            auto gp = ChooseGraphParameters(n, 0.1, 20);
            if (!gp.ok()) {
              std::fprintf(stderr, "ChooseGraphParameters: %s\n",
                           std::string(gp.status().message()).c_str());
              return 1;
            }
            c.degree = gp->degree;
            c.threshold = gp->threshold;
          }
          cells.push_back(c);
        }
      }
    }
  }
  auto find = [&](int n, uint64_t d, double dropout, bool full) -> Cell* {
    for (Cell& c : cells) {
      if (c.n == n && c.d == d && c.dropout == dropout && c.full == full)
        return &c;
    }
    return nullptr;
  };
  bool all_ok = true;
  uint64_t seed = 1;
  auto run = [&](Cell& c) {
    std::fprintf(stderr, "n=%d k=%d D=%llu dropout=%.0f%% ... ", c.n, c.degree,
                 static_cast<unsigned long long>(c.d), c.dropout * 100);
    RoundSpec spec{c.n, c.degree, c.threshold, c.d, c.dropout, 32};
    c.measured = RunRound(pki, spec, seed++);
    c.kind = Cell::Kind::kMeasured;
    std::fprintf(stderr, "%s %.1f s\n",
                 c.measured.ok ? "ok" : c.measured.error.c_str(),
                 c.measured.wall_s);
    all_ok &= c.measured.ok;
  };
  // The issue's comparison setting.
  Cell issue;
  issue.n = 100;
  issue.d = 1000000;
  issue.dropout = 0.1;
  issue.degree = 16;
  issue.threshold = (16 + 1) / 2 + 1;
  auto print_issue_table = [&] {
    std::printf(
        "\n### Issue comparison: n = 100, k = 16, D = 1e6, 10%% dropout\n\n");
    std::printf(
        "Flower's figure used 15 neighbours; our circulant graph needs an even "
        "k, "
        "so k = 16 (t = %d, honest majority of k + 1).\n\n",
        issue.threshold);
    std::printf("Times are `wall / CPU`; the verdict uses CPU time.\n\n");
    std::printf(
        "| setting | client ms | target | server s | target | verdict |\n");
    std::printf("|---|---:|---:|---:|---:|---|\n");
    auto verdict_row = [&](const char* label, const Cell& c) {
      if (!c.measured.ok) {
        std::printf("| %s | - | 25 | - | 0.5 | FAILED: %s |\n", label,
                    c.measured.error.c_str());
        return;
      }
      // Judged on CPU time: wall time on a shared machine measures the
      // neighbours too.
      const bool client_ok = c.measured.client_ms.cpu <= 25,
                 server_ok = c.measured.server_s.cpu <= 0.5;
      std::printf(
          "| %s | %s | <= 25 | %s | <= 0.5 | client %s, server %s |\n", label,
          Ms(c.measured.client_ms).c_str(), Sec(c.measured.server_s).c_str(),
          client_ok ? "meets" : "MISSES", server_ok ? "meets" : "MISSES");
    };
    verdict_row("k = 16 (issue's setting)", issue);
    verdict_row(
        absl::StrFormat("k = %d (product: ChooseGraphParameters(100, 0.1, 20))",
                        find(100, 1000000, 0.1, false)->degree)
            .c_str(),
        *find(100, 1000000, 0.1, false));
  };
  // One mask thread against all of them, in this run: `reps` rounds each,
  // alternating, the median client wall time kept per thread count.
  auto thread_sweep = [&](const Cell& setting, int reps) {
    std::vector<std::pair<int, Cell>> rows;
    std::vector<int> counts = {1};
    if (all_threads > 1) counts.push_back(all_threads);
    std::vector<std::vector<Cell>> runs(counts.size());
    for (int r = 0; r < reps; ++r) {
      for (size_t i = 0; i < counts.size(); ++i) {
        pool.SetThreadLimit(counts[i]);
        Cell c = setting;
        run(c);
        runs[i].push_back(c);
      }
    }
    pool.SetThreadLimit(all_threads);
    for (size_t i = 0; i < counts.size(); ++i) {
      std::sort(runs[i].begin(), runs[i].end(),
                [](const Cell& a, const Cell& b) {
                  return a.measured.client_ms.wall < b.measured.client_ms.wall;
                });
      rows.emplace_back(counts[i], runs[i][runs[i].size() / 2]);
    }
    return rows;
  };
  auto print_thread_table = [&](const char* title,
                                const std::vector<std::pair<int, Cell>>& rows,
                                int reps) {
    std::printf("\n### Mask threads: %s\n\n", title);
    std::printf(
        "`wall / CPU` (process CPU, pool workers included); median client "
        "wall of %d alternating rounds per thread count; speed-up = 1-thread "
        "wall / this wall.\n\n",
        reps);
    std::printf(
        "| mask threads | client ms | server s | unmasking s | speed-up "
        "client | speed-up server | speed-up unmasking |\n");
    std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    const RoundResult& base = rows.front().second.measured;
    for (const auto& [threads, c] : rows) {
      const RoundResult& m = c.measured;
      if (!m.ok) {
        std::printf("| %d | FAILED: %s |||||\n", threads, m.error.c_str());
        continue;
      }
      std::printf("| %d | %s | %s | %s | %.2fx | %.2fx | %.2fx |\n", threads,
                  Ms(m.client_ms).c_str(), Sec(m.server_s).c_str(),
                  Sec(m.unmask_s).c_str(),
                  base.client_ms.wall / m.client_ms.wall,
                  base.server_s.wall / m.server_s.wall,
                  base.unmask_s.wall / m.unmask_s.wall);
    }
  };
  if (issue_row_only) {
    constexpr int kReps = 3;
    const auto rows = thread_sweep(issue, kReps);
    run(*find(100, 1000000, 0.1, false));
    issue = rows.back().second;
    print_issue_table();
    print_thread_table(
        "n = 100, k = 16, D = 1e6, 10% dropout (client target: <= 15 ms wall "
        "on 2 cores)",
        rows, kReps);
    std::printf("\nTotal bench wall time: %.0f s\n", Seconds(bench_start));
    return all_ok ? 0 : 1;
  }
  if (unmask_row_only) {
    const auto rows = thread_sweep(*find(1000, 1000000, 0.1, false), 1);
    print_thread_table(
        "n = 1000, SecAgg+, D = 1e6, 10% dropout (unmasking target: <= 2.0 s "
        "on 2 cores)",
        rows, 1);
    std::printf("\nTotal bench wall time: %.0f s\n", Seconds(bench_start));
    return all_ok ? 0 : 1;
  }
  // Pass 1: everything affordable (the full graph only up to n = 100).
  for (Cell& c : cells) {
    if (c.full && c.n >= 500) {
      c.kind = Cell::Kind::kSkipped;
      const Expansions e = CountExpansions(c.n, c.degree, c.dropout);
      c.est_client_ms = Cost{1, 1} * (e.per_client * t_exp(c.d) * 1e3);
      c.est_server_s = Cost{1, 1} * (e.server * t_exp(c.d));
      continue;
    }
    if (c.d > 100000 && c.n >= 500) continue;  // pass 2
    run(c);
  }
  // Pass 2: SecAgg+ at n >= 500 with D = 1e6, while the budget lasts.
  // Prediction: the D = 1e5 wall time plus its D-dependent part scaled 10x,
  // taken from n = 100 (same dropout) per mask expansion.
  for (int n : {500, 1000}) {
    for (double dropout : {0.0, 0.1}) {
      Cell& c = *find(n, 1000000, dropout, false);
      const Cell& small = *find(n, 100000, dropout, false);
      const Cell& ref_small = *find(100, 100000, dropout, false);
      const Cell& ref_large = *find(100, 1000000, dropout, false);
      const Expansions e = CountExpansions(n, c.degree, c.dropout);
      const Expansions e_ref =
          CountExpansions(100, ref_large.degree, c.dropout);
      const Cost client_growth_ms =
          (ref_large.measured.client_ms - ref_small.measured.client_ms) *
          (e.per_client / e_ref.per_client);
      const Cost server_growth_s =
          (ref_large.measured.server_s - ref_small.measured.server_s) *
          (e.server / e_ref.server);
      const double predicted_wall =
          small.measured.wall_s +
          (ref_large.measured.wall_s - ref_small.measured.wall_s) *
              (n * e.per_client) / (100 * e_ref.per_client);
      if (Seconds(bench_start) + predicted_wall < kBudgetSeconds) {
        run(c);
      } else {
        std::fprintf(
            stderr,
            "n=%d D=1e6 dropout=%.0f%%: predicted %.0f s, over budget: "
            "estimating\n",
            n, dropout * 100, predicted_wall);
        c.kind = Cell::Kind::kEstimatedScaled;
        c.est_client_ms = small.measured.client_ms + client_growth_ms;
        c.est_server_s = small.measured.server_s + server_growth_s;
      }
    }
  }
  run(issue);

  std::printf("## 1. Cost per round (real state machines, in memory)\n\n");
  std::printf(
      "Client: mean wall time of one surviving client's Create + Start + "
      "Handle calls "
      "(all phases). Server: total wall time inside SecAggServer calls. Each "
      "shown as "
      "`wall / CPU` (this thread's CPU time; on a shared machine wall includes "
      "waiting for a core). "
      "Training and certificate issuance excluded. Full = plain SecAgg "
      "(k = n-1, t = floor(n/2)+1); SecAgg+ = ChooseGraphParameters(n, 0.1, "
      "20). "
      "`est.` cells did not run: **skipped** full-graph cells show a PRG-only "
      "lower bound (mask expansions x measured AddMask time; certificate "
      "checks "
      "and O(n t) Shamir work per client come on top); *scaled* cells are the "
      "D = 1e5 measurement with its D-dependent part scaled to D = 1e6.\n\n");
  std::printf(
      "| n | D | dropout | graph | k | t | client ms | server s | status |\n");
  std::printf("|---:|---:|---:|---|---:|---:|---:|---:|---|\n");
  auto print_cell = [&](const Cell& c, const char* graph) {
    const std::string d = c.d >= 1000000 ? "1e6" : "1e5";
    std::string client, server, status;
    switch (c.kind) {
      case Cell::Kind::kMeasured:
        if (!c.measured.ok) {
          client = server = "-";
          status = "FAILED: " + c.measured.error;
        } else {
          client = Ms(c.measured.client_ms);
          server = Sec(c.measured.server_s);
          status = absl::StrFormat("measured, sum checked (%d survivors)",
                                   c.measured.survivors);
        }
        break;
      case Cell::Kind::kSkipped:
        client = "est. >= " + Ms(c.est_client_ms.cpu);
        server = "est. >= " + Sec(c.est_server_s.cpu);
        status = "**skipped** (PRG-only lower bound)";
        break;
      case Cell::Kind::kEstimatedScaled:
        client = "est. ~" + Ms(c.est_client_ms);
        server = "est. ~" + Sec(c.est_server_s);
        status = "*scaled* from D = 1e5 (not run: time budget)";
        break;
    }
    std::printf("| %d | %s | %.0f%% | %s | %d | %d | %s | %s | %s |\n", c.n,
                d.c_str(), c.dropout * 100, graph, c.degree, c.threshold,
                client.c_str(), server.c_str(), status.c_str());
  };
  for (uint64_t d : {uint64_t{100000}, uint64_t{1000000}}) {
    for (int n : {10, 100, 500, 1000}) {
      for (double dropout : {0.0, 0.1}) {
        for (bool full : {true, false}) {
          const Cell& c = *find(n, d, dropout, full);
          print_cell(c, full ? "full"
                             : (c.degree == n - 1 ? "SecAgg+ (= full, n <= 20)"
                                                  : "SecAgg+"));
        }
      }
    }
  }
  print_issue_table();

  // ---- 2. print throughput ----
  std::printf(
      "\n## 2. Mask expansion throughput (AddMask, AES-256-CTR keystream)\n\n");
  std::printf(
      "Reference: `openssl speed -evp aes-128-ctr` equivalent (EVP, one "
      "context, "
      "16 KiB buffer, in this process): **%.2f GB/s**. AES-256 runs 14 rounds "
      "to "
      "AES-128's 10, so a perfect AddMask would sit near 0.71.\n\n",
      evp_gbps);
  std::printf(
      "| words | ms per AddMask | GB/s of mask | ratio to EVP aes-128-ctr |\n");
  std::printf("|---:|---:|---:|---:|\n");
  for (auto [words, s] : {std::pair<size_t, double>{100000, t_exp_1e5},
                          {1000000, t_exp_1e6},
                          {10000000, t_exp_1e7}}) {
    const double gbps = words * 4.0 / s / 1e9;
    std::printf("| %zu | %.3f | %.2f | %.2f |\n", words, s * 1e3, gbps,
                gbps / evp_gbps);
  }

  // ---- 3. communication ----
  std::printf(
      "\n## 3. Communication expansion (bytes a client sends / 4D)\n\n");
  std::printf(
      "Bytes = serialized protobuf size of each message the client sends "
      "(AdvertiseKeys with its certificate, ShareKeysResponse, "
      "ConsistencyCheckResponse, UnmaskingResponse) + 4 bytes per masked value "
      "(b = 32: the transport sends the masked vector as uint32 LE). "
      "Denominator: 4D, the float32 update.\n\n");
  std::printf(
      "| setting | k | messages (bytes) | masked vector (bytes) | total "
      "(bytes) | "
      "total / 4D |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  auto comm_row = [&](const char* label, const Cell& c) {
    if (!c.measured.ok) return;
    const double msgs = c.measured.sent.Messages();
    const double vec = 4.0 * c.d;
    std::printf("| %s | %d | %.0f | %.0f | %.0f | %.4f |\n", label, c.degree,
                msgs, vec, msgs + vec, (msgs + vec) / (4.0 * c.d));
  };
  comm_row("n = 100, D = 1e6, b = 32, SecAgg+ (measured)",
           *find(100, 1000000, 0.0, false));
  comm_row("n = 100, D = 1e6, b = 32, k = 16 (measured)", issue);
  comm_row("n = 100, D = 1e6, b = 32, full graph (measured)",
           *find(100, 1000000, 0.0, true));

  // Anchor: Bonawitz et al. 2017, 2^10 clients, 2^20 values, 16-bit inputs,
  // full graph; computed from per-neighbour sizes measured at n = 1000
  // (ids of the same length, Shamir x up to 1000 so varints of the same size).
  const Cell& probe = *find(1000, 100000, 0.0, false);
  if (probe.measured.ok) {
    const SentBytes& s = probe.measured.sent;
    const double fixed_share =
        s.share_keys - s.share_keys_per_entry * s.entries_share_keys;
    const double fixed_unmask =
        s.unmasking - s.unmasking_per_entry * s.entries_unmasking;
    std::printf(
        "\nPer-client message sizes measured at n = 1000 (k = %d, D = 1e5; key "
        "and "
        "share messages do not depend on D): AdvertiseKeys %.0f B, "
        "ShareKeysResponse %.0f B + %.1f B per neighbour, "
        "ConsistencyCheckResponse "
        "%.0f B, UnmaskingResponse %.0f B + %.1f B per revealed share "
        "(neighbours + "
        "itself).\n\n",
        probe.degree, s.advertise, fixed_share, s.share_keys_per_entry,
        s.consistency, fixed_unmask, s.unmasking_per_entry);
    const double n = 1024, d = 1 << 20;
    auto gp1024 = ChooseGraphParameters(1024, 0.1, 20);
    std::printf(
        "Anchor (Bonawitz et al. 2017, Table/Fig.: 2^10 clients, 2^20 values, "
        "16-bit "
        "inputs, reported expansion **1.73x** over the 16-bit input). "
        "Computed, not "
        "run end to end. `/2D` is the paper's denominator (16-bit input), "
        "`/4D` ours "
        "(float update).\n\n");
    std::printf(
        "| graph | k | value packing | messages (bytes) | masked vector "
        "(bytes) | "
        "total / 2D (paper's metric) | total / 4D |\n");
    std::printf("|---|---:|---|---:|---:|---:|---:|\n");
    for (int k : {static_cast<int>(n) - 1, gp1024.ok() ? gp1024->degree : 0}) {
      if (k == 0) continue;
      const double msgs = s.advertise + fixed_share +
                          s.share_keys_per_entry * k + s.consistency +
                          fixed_unmask + s.unmasking_per_entry * (k + 1);
      for (int bytes_per_value : {4, 2}) {
        const double vec = bytes_per_value * d;
        std::printf("| %s | %d | %s | %.0f | %.0f | %.3f | %.3f |\n",
                    k == n - 1 ? "full (paper)" : "SecAgg+ (ours, 10%, 2^-20)",
                    k,
                    bytes_per_value == 4 ? "4 B/value (uint32 LE, unpacked)"
                                         : "2 B/value (b = 16 packed)",
                    msgs, vec, (msgs + vec) / (2 * d), (msgs + vec) / (4 * d));
      }
    }
  }
  std::printf("\nTotal bench wall time: %.0f s\n", Seconds(bench_start));
  return all_ok ? 0 : 1;
}
