// Throughput of the differential-privacy noise samplers on one core:
// DiscreteGaussianSampler::Sample (exact, Canonne-Kamath-Steinke 2020) at
// sigma = 1, 10, 1e3, 1e5, 1e7, and NoiseSource::Gaussian (polar
// Box-Muller), both drawing from the AES-256-CTR NoiseSource.
//
// The source is seeded (FromSeedForTesting) so runs draw the same stream;
// its speed is that of an OS-keyed source. Each row is the best of repeated
// timings lasting >= 0.3 s in total.
//
// Usage: dp_sampler_bench   (Release build; a few seconds, single-threaded)

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>

#include "common/dp/discrete_gaussian.h"
#include "common/dp/noise_source.h"

#ifndef FEDLEARN_BENCH_BUILD_TYPE
#define FEDLEARN_BENCH_BUILD_TYPE "unknown"
#endif

namespace {

using Clock = std::chrono::steady_clock;

// Seconds per call of `draw` (which makes one sample): the best of batches
// of `batch` calls, repeated until 0.3 s have been spent.
double BestSecondsPerSample(const std::function<int64_t()>& draw, int batch) {
  double best = 1e300;
  double spent = 0;
  int64_t sink = 0;
  while (spent < 0.3) {
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < batch; ++i) sink += draw();
    const double seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    best = std::min(best, seconds / batch);
    spent += seconds;
  }
  // Keeps the draws observable so they cannot be optimized away.
  if (sink == 42) std::printf(" ");
  return best;
}

void PrintRow(const char* name, double sigma, double seconds) {
  std::printf("%-26s %10.0e %14.3e %12.1f\n", name, sigma, 1.0 / seconds,
              seconds * 1e9);
}

}  // namespace

int main() {
  std::printf("dp_sampler_bench  build=%s\n\n", FEDLEARN_BENCH_BUILD_TYPE);
  std::printf("%-26s %10s %14s %12s\n", "sampler", "sigma", "samples/s",
              "ns/sample");

  fedlearn::NoiseSource rng = fedlearn::NoiseSource::FromSeedForTesting(1);
  constexpr int kBatch = 100000;
  for (const double sigma : {1.0, 10.0, 1e3, 1e5, 1e7}) {
    absl::StatusOr<fedlearn::DiscreteGaussianSampler> sampler =
        fedlearn::DiscreteGaussianSampler::CreateAtLeast(sigma);
    if (!sampler.ok()) {
      std::fprintf(stderr, "sigma %g: %s\n", sigma,
                   sampler.status().ToString().c_str());
      return 1;
    }
    const double seconds =
        BestSecondsPerSample([&] { return sampler->Sample(rng); }, kBatch);
    PrintRow("DiscreteGaussianSampler", sigma, seconds);
  }
  const double gaussian_seconds = BestSecondsPerSample(
      [&] { return static_cast<int64_t>(rng.Gaussian(1e3)); }, kBatch);
  PrintRow("NoiseSource::Gaussian", 1e3, gaussian_seconds);
  return 0;
}
