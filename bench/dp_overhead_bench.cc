// Client and server cost of the distributed discrete Gaussian encoding
// (common/dp/distributed_dp_encoding.h) at a realistic setting: noise
// multiplier z = 1, C = 1, n_min = 100, n_max = 200, b = 32, for the model
// sizes of the examples (logistic regression on MNIST, LeNet-5) and 1e6.
//
// Columns, each the median of several runs (wall time, one thread):
//   Rotate      the randomized Hadamard rotation alone (pad, signs, FWHT);
//   Enc(z=0)    Encode without noise: rotation + conditional rounding;
//   Encode      the full client encoding: rotation + rounding + one exact
//               discrete Gaussian sample per padded coordinate;
//   DecodeSum   the server's lift + inverse rotation of one summed vector;
//   samples/s   padded coordinates per second through the full Encode.
// The ratio to local training time is for the caller to compute.
//
// Usage: dp_overhead_bench   (Release build; about 5 s, single-threaded)

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "common/dp/distributed_dp_encoding.h"
#include "common/dp/noise_source.h"

#ifndef FEDLEARN_BENCH_BUILD_TYPE
#define FEDLEARN_BENCH_BUILD_TYPE "unknown"
#endif

namespace {

using Clock = std::chrono::steady_clock;

double MedianSeconds(int runs, const std::function<void()>& body) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const Clock::time_point start = Clock::now();
    body();
    t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void Check(const absl::Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
    std::exit(1);
  }
}

}  // namespace

int main() {
  using fedlearn::DistributedDpEncoder;
  using fedlearn::DistributedDpParameters;
  using fedlearn::NoiseSource;

  std::printf("dp_overhead_bench  build=%s\n", FEDLEARN_BENCH_BUILD_TYPE);
  std::printf(
      "z = 1, C = 1, n_min = 100, n_max = 200, b = 32; median of runs\n\n");
  std::printf("%9s %8s %9s %9s %9s %9s %10s %12s  %s\n", "D", "d", "Rotate",
              "Enc(z=0)", "Encode", "DecodeSum", "samples/s", "gamma",
              "sigma_int");

  for (size_t dimension : {size_t{7850}, size_t{61706}, size_t{1000000}}) {
    DistributedDpParameters p;
    p.dimension = dimension;
    p.modulus_bits = 32;
    p.clip_norm = 1.0;
    p.noise_stddev = 1.0;  // z = noise_stddev / C = 1
    p.min_clients = 100;
    p.max_clients = 200;
    for (size_t i = 0; i < p.rotation_seed.size(); ++i) {
      p.rotation_seed[i] = static_cast<uint8_t>(i);
    }
    absl::StatusOr<DistributedDpEncoder> encoder =
        DistributedDpEncoder::Create(p);
    Check(encoder.status());
    DistributedDpParameters quiet_params = p;
    quiet_params.noise_stddev = 0;
    absl::StatusOr<DistributedDpEncoder> quiet =
        DistributedDpEncoder::Create(quiet_params);
    Check(quiet.status());

    NoiseSource rng = NoiseSource::FromSeedForTesting(dimension);
    std::vector<float> update(dimension);
    double sq = 0;
    for (float& x : update) {
      x = static_cast<float>(rng.Gaussian(1.0));
      sq += static_cast<double>(x) * x;
    }
    // Just inside the ball, so float rounding cannot push it outside.
    const double scale = 0.999 * p.clip_norm / std::sqrt(sq);
    for (float& x : update) x = static_cast<float>(x * scale);

    const int runs = dimension >= 1000000 ? 9 : 21;
    std::vector<double> rotated(encoder->encoded_length());
    const double rotate_s = MedianSeconds(runs, [&] {
      Check(encoder->rotation().Rotate(update, absl::MakeSpan(rotated)));
    });
    const double quiet_s = MedianSeconds(
        runs, [&] { Check(quiet->Encode(update, rng).status()); });
    std::vector<uint32_t> encoded;
    const double encode_s = MedianSeconds(runs, [&] {
      absl::StatusOr<std::vector<uint32_t>> e = encoder->Encode(update, rng);
      Check(e.status());
      encoded = *std::move(e);
    });
    const double decode_s = MedianSeconds(
        runs, [&] { Check(encoder->DecodeSum(encoded).status()); });
    std::printf(
        "%9zu %8zu %7.2fms %7.2fms %7.1fms %7.2fms %10.3g %12.4g  %.4g\n",
        dimension, encoder->encoded_length(), rotate_s * 1e3, quiet_s * 1e3,
        encode_s * 1e3, decode_s * 1e3, encoder->encoded_length() / encode_s,
        encoder->granularity(), std::sqrt(encoder->client_noise_variance()));
  }
  return 0;
}
