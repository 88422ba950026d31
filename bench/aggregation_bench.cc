// Throughput and memory of FedAvgAggregator, measured against this machine's
// own memory bandwidth.
//
// FedAvgAggregator::Add is sum[i] += w * x[i]: a streaming kernel that, once
// the model outgrows the caches, can go no faster than memory. So the figure
// that means something on any machine (and on a noisy shared one) is not an
// absolute GB/s but the ratio to the simplest kernel with the same traffic,
// a[i] += b[i], timed in the same run. The target is ratio >= 0.5.
//
// Byte convention, for both kernels: 3 * 4 bytes per element (read a, read b,
// write a). Write-allocate traffic is not counted, identically on both sides,
// so the ratio is unaffected by it.
//
// Memory: the aggregator promises O(D) whatever the cohort size N.
// `--peak-rss N D` runs one round in a process of its own and reports
// ru_maxrss in units of one model (4 * D bytes). The full run spawns itself
// for that before it allocates anything, so the figure holds neither the
// bandwidth arrays nor the update pool (see SpawnPeakRssChild for why
// "before" matters).
//
// Usage:
//   aggregation_bench                  full run (~30 s): tables + peak RSS
//   aggregation_bench --peak-rss N D   one round of N updates of D floats

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "server/round/fedavg_aggregator.h"

extern char** environ;

#ifndef FEDLEARN_BENCH_BUILD_TYPE
#define FEDLEARN_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef FEDLEARN_BENCH_CXX_FLAGS
#define FEDLEARN_BENCH_CXX_FLAGS "unknown"
#endif
#ifndef FEDLEARN_BENCH_COMPILER
#define FEDLEARN_BENCH_COMPILER "unknown"
#endif

namespace fedlearn {
namespace {

using Clock = std::chrono::steady_clock;

constexpr double kBytesPerElement = 3 * sizeof(float);   // read, read, write
constexpr size_t kReferenceElements = size_t{64} << 20;  // 256 MiB per array
constexpr double kMinSecondsPerConfig = 0.5;
constexpr int kMinRepetitions = 5;
constexpr size_t kUpdatePoolSize = 4;

// Defeats dead-code elimination of results nobody else reads.
volatile float g_sink = 0.0f;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// "1e7" for powers of ten, digits otherwise.
std::string FormatCount(size_t n) {
  int exponent = 0;
  size_t rest = n;
  while (rest >= 10 && rest % 10 == 0) {
    rest /= 10;
    ++exponent;
  }
  if (rest == 1 && exponent >= 2) return "1e" + std::to_string(exponent);
  return std::to_string(n);
}

// Deterministic pseudo-random values in [-0.5, 0.5), from a counter-based
// hash (murmur3 finaliser) so filling stays cheap next to what it measures.
void FillUpdate(absl::Span<float> out, uint32_t seed) {
  const uint32_t base = seed * 0x9E3779B9u;
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t x = static_cast<uint32_t>(i) + base;
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    out[i] = static_cast<float>(x >> 8) * (1.0f / 16777216.0f) - 0.5f;
  }
}

// Example counts vary per client, as in a real round.
double WeightOf(size_t update_index) {
  return 1.0 + static_cast<double>(update_index % 7);
}

// The yardstick. Compiled with the same flags as the aggregator, in its own
// non-inlined function so the compiler sees the same aliasing facts.
__attribute__((noinline)) void AddArrays(float* __restrict a,
                                         const float* __restrict b, size_t n) {
  for (size_t i = 0; i < n; ++i) a[i] += b[i];
}

// Best-of GB/s of a[i] += b[i] over two 256 MiB arrays.
double MeasureReferenceBandwidth(int* repetitions_out) {
  std::vector<float> a(kReferenceElements, 0.0f);  // zero-fill touches pages
  std::vector<float> b(kReferenceElements, 1e-3f);
  AddArrays(a.data(), b.data(), a.size());  // warm-up: TLB, frequency
  double best = 1e30;
  double total = 0.0;
  int repetitions = 0;
  while (repetitions < 5 || total < kMinSecondsPerConfig) {
    const Clock::time_point start = Clock::now();
    AddArrays(a.data(), b.data(), a.size());
    const double seconds = SecondsSince(start);
    best = std::min(best, seconds);
    total += seconds;
    ++repetitions;
  }
  g_sink = a[a.size() / 2];
  *repetitions_out = repetitions;
  return kBytesPerElement * static_cast<double>(kReferenceElements) / best /
         1e9;
}

struct AggregationResult {
  size_t updates = 0;
  size_t dimension = 0;
  double best_seconds_per_round = 0.0;
  int repetitions = 0;
};

void CheckOk(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", what, status.ToString().c_str());
    std::exit(1);
  }
}

// Times one round: N Add() calls cycling through `pool`, plus applying the
// weighted mean to the global model once (AddWeightedMeanTo, as the round
// engine does). The aggregator is built and Reset() outside the timed region,
// as the coordinator does between rounds.
AggregationResult MeasureAggregation(
    size_t updates, const std::vector<std::vector<float>>& pool) {
  const size_t dimension = pool.front().size();
  FedAvgAggregator aggregator(dimension);
  AggregationResult result;
  result.updates = updates;
  result.dimension = dimension;
  result.best_seconds_per_round = 1e30;
  std::vector<float> global(dimension, 0.5f);
  double total = 0.0;
  while (result.repetitions < kMinRepetitions || total < kMinSecondsPerConfig) {
    aggregator.Reset();
    const Clock::time_point start = Clock::now();
    for (size_t i = 0; i < updates; ++i) {
      CheckOk(aggregator.Add(pool[i % pool.size()], WeightOf(i)), "Add");
    }
    const absl::Status applied =
        aggregator.AddWeightedMeanTo(absl::MakeSpan(global), 1.0);
    const double seconds = SecondsSince(start);
    CheckOk(applied, "AddWeightedMeanTo");
    g_sink = global[dimension / 2];
    result.best_seconds_per_round =
        std::min(result.best_seconds_per_round, seconds);
    total += seconds;
    ++result.repetitions;
  }
  return result;
}

// Largest cache level's size from sysfs, in bytes; 0 if unknown. Not
// sysconf(_SC_LEVEL3_CACHE_SIZE): under KVM glibc's CPUID reading can be off
// by 10x (it reports 320 MiB on the 32 MiB EPYC this was written on).
long LastLevelCacheBytes() {
  long best = 0;
  for (int index = 0; index < 8; ++index) {
    const std::string path = "/sys/devices/system/cpu/cpu0/cache/index" +
                             std::to_string(index) + "/size";
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) continue;
    long value = 0;
    char unit = 0;
    if (std::fscanf(f, "%ld%c", &value, &unit) >= 1) {
      if (unit == 'K') value <<= 10;
      if (unit == 'M') value <<= 20;
      best = std::max(best, value);
    }
    std::fclose(f);
  }
  return best;
}

// ---- Peak memory -------------------------------------------------------

// A "VmXXX:  1234 kB" field of /proc/self/status, in KiB; -1 if absent.
long ProcStatusKb(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  const size_t len = std::strlen(field);
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
      kb = std::strtol(line + len + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kb;
}

double KibToMb(long kib) { return static_cast<double>(kib) * 1024.0 / 1e6; }

// One round as the coordinator would run it: each update arrives into one
// reused receive buffer and is folded in at once; nothing holds N updates.
int RunPeakRss(size_t updates, size_t dimension) {
  const long baseline_kb = ProcStatusKb("VmRSS");
  {
    FedAvgAggregator aggregator(dimension);
    std::vector<float> incoming(dimension);
    for (size_t i = 0; i < updates; ++i) {
      FillUpdate(absl::MakeSpan(incoming), static_cast<uint32_t>(i + 1));
      CheckOk(aggregator.Add(incoming, WeightOf(i)), "Add");
    }
    // The engine keeps the current global model and builds the next one
    // as a copy plus the weighted mean.
    std::vector<float> global(dimension, 0.5f);
    std::vector<float> next = global;
    CheckOk(aggregator.AddWeightedMeanTo(absl::MakeSpan(next), 1.0),
            "AddWeightedMeanTo");
    g_sink = next[dimension / 2] + global[0];
  }
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  const long maxrss_kb = usage.ru_maxrss;  // KiB on Linux
  const double model_mb = 4.0 * static_cast<double>(dimension) / 1e6;
  const double peak_mb = KibToMb(maxrss_kb);
  std::printf(
      "peak RSS for N=%zu, D=%s: %.0f MB (one model = %.0f MB, ratio %.2f)\n",
      updates, FormatCount(dimension).c_str(), peak_mb, model_mb,
      peak_mb / model_mb);
  std::printf(
      "  process baseline before the round: %.0f MB (libraries, heap); "
      "excluding it: %.0f MB = %.2f models\n",
      KibToMb(baseline_kb), peak_mb - KibToMb(baseline_kb),
      (peak_mb - KibToMb(baseline_kb)) / model_mb);
  std::printf("  cross-check /proc/self/status VmHWM: %.0f MB\n",
              KibToMb(ProcStatusKb("VmHWM")));
  return 0;
}

// Runs `--peak-rss N D` in a fresh process and returns what it printed.
//
// Called before the full run allocates anything, because Linux carries
// ru_maxrss across execve: the exec'ing task's old address space high-water
// mark is folded into the new image's ru_maxrss. A child spawned from a parent
// holding 512 MiB of bandwidth arrays would report at least that much.
std::string SpawnPeakRssChild(const char* self_name, size_t updates,
                              size_t dimension) {
  int fds[2];
  if (pipe(fds) != 0)
    return std::string("  (pipe failed: ") + std::strerror(errno) + ")\n";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);

  std::string n_arg = std::to_string(updates);
  std::string d_arg = std::to_string(dimension);
  std::string flag = "--peak-rss";
  std::string name = self_name;
  char* argv[] = {name.data(), flag.data(), n_arg.data(), d_arg.data(),
                  nullptr};
  pid_t pid = 0;
  const int rc =
      posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string output;
  if (rc != 0) {
    close(fds[0]);
    return std::string("  (posix_spawn failed: ") + std::strerror(rc) + ")\n";
  }
  char buffer[4096];
  ssize_t got;
  while ((got = read(fds[0], buffer, sizeof(buffer))) > 0) {
    output.append(buffer, static_cast<size_t>(got));
  }
  close(fds[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    output += "  (peak-rss child did not exit cleanly)\n";
  }
  return output;
}

// ---- Full run ------------------------------------------------------------

int RunFull(const char* self_name) {
  const Clock::time_point run_start = Clock::now();
  // First, while this process is still small; see SpawnPeakRssChild.
  const std::string peak_rss_report =
      SpawnPeakRssChild(self_name, 100, 10000000);

  std::printf("# FedAvgAggregator throughput\n\n");
  std::printf(
      "- cores online: %ld (hardware_concurrency %u); single-threaded bench\n",
      sysconf(_SC_NPROCESSORS_ONLN), std::thread::hardware_concurrency());
  const long l3 = LastLevelCacheBytes();
  if (l3 > 0) std::printf("- last-level cache: %.0f MiB\n", l3 / 1048576.0);
  std::printf(
      "- build: %s, %s, flags \"%s\" (no -march: baseline x86-64 SIMD)\n",
      FEDLEARN_BENCH_BUILD_TYPE, FEDLEARN_BENCH_COMPILER,
      FEDLEARN_BENCH_CXX_FLAGS);
  std::printf(
      "- GB/s convention: 3 x 4 bytes per element (read a, read b, write a), "
      "1 GB = 1e9 bytes;\n  the same for a+=b and for Add(); best of >= %d "
      "repetitions and >= %.1f s per configuration\n\n",
      kMinRepetitions, kMinSecondsPerConfig);
  std::fflush(stdout);

  // Measured before and after the aggregation runs; the faster is kept, so a
  // neighbour's burst during one of them cannot flatter the ratios.
  int first_repetitions = 0;
  const double first_gbps = MeasureReferenceBandwidth(&first_repetitions);
  std::fflush(stdout);
  const size_t dimensions[] = {100000, 1000000, 10000000};
  const size_t cohort_sizes[] = {10, 100};
  std::vector<AggregationResult> results;
  for (size_t dimension : dimensions) {
    // A few distinct updates, cycled: the bench never holds N * D floats.
    std::vector<std::vector<float>> pool(kUpdatePoolSize,
                                         std::vector<float>(dimension));
    for (size_t k = 0; k < pool.size(); ++k) {
      FillUpdate(absl::MakeSpan(pool[k]), static_cast<uint32_t>(k + 1));
    }
    for (size_t updates : cohort_sizes) {
      results.push_back(MeasureAggregation(updates, pool));
    }
  }
  std::sort(results.begin(), results.end(),
            [](const AggregationResult& x, const AggregationResult& y) {
              return x.updates != y.updates ? x.updates < y.updates
                                            : x.dimension < y.dimension;
            });

  int last_repetitions = 0;
  const double last_gbps = MeasureReferenceBandwidth(&last_repetitions);
  const double reference_gbps = std::max(first_gbps, last_gbps);
  std::printf("## Reference: a[i] += b[i], 2 x 256 MiB float arrays\n\n");
  std::printf(
      "%.2f GB/s (best of %d before the aggregation runs: %.2f; best of %d "
      "after: %.2f; ratios use the higher)\n\n",
      reference_gbps, first_repetitions, first_gbps, last_repetitions,
      last_gbps);

  std::printf(
      "## Aggregation: N x Add() + applying the mean to the global model once "
      "per round\n\n");
  std::printf(
      "| N | D | time per round (ms) | GB/s | ratio to a+=b | working set "
      "(MB) |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|\n");
  bool all_dram_meet_target = true;
  for (const AggregationResult& r : results) {
    const double bytes = kBytesPerElement * static_cast<double>(r.dimension) *
                         static_cast<double>(r.updates);
    const double gbps = bytes / r.best_seconds_per_round / 1e9;
    const double ratio = gbps / reference_gbps;
    // Update pool + accumulator: what must stream through the caches.
    const double working_set_mb =
        4.0 * static_cast<double>(r.dimension) * (kUpdatePoolSize + 1) / 1e6;
    const bool cache_resident = l3 > 0 && working_set_mb * 1e6 < l3;
    if (!cache_resident && ratio < 0.5) all_dram_meet_target = false;
    std::printf("| %zu | %s | %.3f | %.2f | %.2f | %.1f%s |\n", r.updates,
                FormatCount(r.dimension).c_str(),
                r.best_seconds_per_round * 1e3, gbps, ratio, working_set_mb,
                cache_resident ? " (fits LLC)" : "");
  }
  std::printf(
      "\nRatios above 1 mean the working set (pool of %zu updates + "
      "accumulator) fits in cache,\nwhere a+=b over 2 x 256 MiB cannot; the "
      "DRAM-bound rows (no \"fits\") are the ones the target is about.\n"
      "Even there Add() can beat a+=b: its 4*D-byte accumulator, touched by "
      "every Add, is partly\nkept by the last-level cache between calls, "
      "while a+=b streams 512 MiB with no reuse.\n",
      kUpdatePoolSize);
  std::printf("Target ratio >= 0.5 on DRAM-bound rows: %s\n\n",
              all_dram_meet_target ? "met" : "NOT met");

  // Each round is a fixed cost (AddWeightedMeanTo: one read of the sum and
  // one read-modify-write of the global model) plus N times one Add. The slope
  // between N=10 and N=100 separates the two.
  std::printf("Split of a round, from the slope between N=%zu and N=%zu:\n\n",
              cohort_sizes[0], cohort_sizes[1]);
  std::printf(
      "| D | one Add (ms) | Add alone GB/s | ratio to a+=b | "
      "fixed per round, ~AddWeightedMeanTo (ms) |\n");
  std::printf("|---:|---:|---:|---:|---:|\n");
  for (size_t dimension : dimensions) {
    const AggregationResult* small = nullptr;
    const AggregationResult* large = nullptr;
    for (const AggregationResult& r : results) {
      if (r.dimension != dimension) continue;
      if (r.updates == cohort_sizes[0]) small = &r;
      if (r.updates == cohort_sizes[1]) large = &r;
    }
    const double per_add =
        (large->best_seconds_per_round - small->best_seconds_per_round) /
        static_cast<double>(large->updates - small->updates);
    if (!(per_add > 0)) {
      std::printf("| %s | (noise: slope not positive) | | | |\n",
                  FormatCount(dimension).c_str());
      continue;
    }
    const double fixed = small->best_seconds_per_round -
                         per_add * static_cast<double>(small->updates);
    const double gbps =
        kBytesPerElement * static_cast<double>(dimension) / per_add / 1e9;
    std::printf("| %s | %.3f | %.2f | %.2f | %.3f |\n",
                FormatCount(dimension).c_str(), per_add * 1e3, gbps,
                gbps / reference_gbps, fixed * 1e3);
  }
  std::printf("\n");

  std::printf(
      "## Peak memory (separate process, one round, one reused "
      "receive buffer)\n\n");
  std::printf("%s", peak_rss_report.c_str());
  std::printf(
      "Expected ~4 models, whatever N: accumulator + incoming buffer + the "
      "current global model + the next one.\n\n");
  std::printf("total bench time: %.1f s\n", SecondsSince(run_start));
  return 0;
}

bool ParseSize(const char* text, size_t* out) {
  char* end = nullptr;
  const double value = std::strtod(text, &end);  // accepts "1e7"
  if (end == text || *end != '\0' || !(value >= 1) || value > 1e12 ||
      value != std::floor(value)) {
    return false;
  }
  *out = static_cast<size_t>(value);
  return true;
}

int Usage(const char* self_name) {
  std::fprintf(
      stderr,
      "usage: %s                  full run (tables + peak RSS)\n"
      "       %s --peak-rss N D   one round of N updates of D floats\n",
      self_name, self_name);
  return 2;
}

}  // namespace
}  // namespace fedlearn

int main(int argc, char** argv) {
  if (argc == 1) return fedlearn::RunFull(argv[0]);
  if (argc == 4 && std::strcmp(argv[1], "--peak-rss") == 0) {
    size_t updates = 0;
    size_t dimension = 0;
    if (fedlearn::ParseSize(argv[2], &updates) &&
        fedlearn::ParseSize(argv[3], &dimension)) {
      return fedlearn::RunPeakRss(updates, dimension);
    }
  }
  return fedlearn::Usage(argv[0]);
}
