// Wall time of the robust aggregators (server/round/coordinate_median.h,
// trimmed_mean.h, krum.h) against the running weighted sum of FedAvg, for n
// updates of D floats drawn N(0, 1). Prints one row per (rule, n, D).
//
//   bench/robust_aggregation_bench [D]   (default D = 1,000,000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "server/round/coordinate_median.h"
#include "server/round/fedavg_aggregator.h"
#include "server/round/krum.h"
#include "server/round/trimmed_mean.h"

namespace {

double Seconds(const std::function<void()>& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedlearn;
  const size_t dimension =
      argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1'000'000;
  std::printf("build: %s; D = %zu floats\n", FEDLEARN_BENCH_BUILD_TYPE,
              dimension);
  std::printf("%-14s %5s %10s\n", "rule", "n", "seconds");
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (size_t n : {10, 50}) {
    std::vector<std::vector<float>> updates(n, std::vector<float>(dimension));
    for (auto& u : updates) {
      for (float& x : u) x = normal(rng);
    }
    std::vector<absl::Span<const float>> views(updates.begin(), updates.end());
    const double mean = Seconds([&] {
      FedAvgAggregator sum(dimension);
      for (const auto& u : updates) (void)sum.Add(u, 1.0);
      (void)sum.TakeMean();
    });
    const double median = Seconds([&] { (void)CoordinateMedian(views); });
    const double trimmed = Seconds([&] { (void)TrimmedMean(views, 0.1); });
    const double krum = Seconds([&] { (void)MultiKrum(views, 1, 1); });
    std::printf("%-14s %5zu %10.3f\n", "mean (FedAvg)", n, mean);
    std::printf("%-14s %5zu %10.3f\n", "median", n, median);
    std::printf("%-14s %5zu %10.3f\n", "trimmed_mean", n, trimmed);
    std::printf("%-14s %5zu %10.3f\n", "krum", n, krum);
  }
  return 0;
}
