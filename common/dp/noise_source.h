// The random source of every differential-privacy noise draw: a CSPRNG,
// never std::mt19937.
//
// Output is the AES-256-CTR keystream under a 256-bit key. In production the
// key comes from the OS (OpenSSL RAND_priv_bytes), so noise is unpredictable
// even to someone who knows the code and the data. FromSeedForTesting derives
// the key from a 64-bit seed so statistical tests are reproducible; it must
// only be reachable behind an explicit, documented testing option.
//
// Not thread-safe: one NoiseSource per thread. Move-only; the key is wiped.
#ifndef FEDLEARN_COMMON_DP_NOISE_SOURCE_H_
#define FEDLEARN_COMMON_DP_NOISE_SOURCE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fedlearn {

using uint128 = unsigned __int128;

class NoiseSource {
 public:
  // Keyed by 32 bytes from the OS CSPRNG. Internal on OpenSSL failure.
  static absl::StatusOr<NoiseSource> FromOsEntropy();
  // Deterministic stream for tests and reproducible benchmarks only.
  static NoiseSource FromSeedForTesting(uint64_t seed);

  NoiseSource(NoiseSource&&) noexcept;
  NoiseSource& operator=(NoiseSource&&) noexcept;
  NoiseSource(const NoiseSource&) = delete;
  NoiseSource& operator=(const NoiseSource&) = delete;
  ~NoiseSource();

  uint64_t NextU64();
  // Uniform in [0, bound), exactly (rejection sampling); bound > 0.
  uint64_t UniformBelow(uint64_t bound);
  uint128 UniformBelow128(uint128 bound);
  // Uniform in the open interval (0, 1) with 53 random bits.
  double UniformOpen01();
  // A N(0, stddev^2) draw (polar Box-Muller on UniformOpen01 pairs).
  double Gaussian(double stddev);
  // values[i] += N(0, stddev^2), independently per coordinate.
  void AddGaussian(absl::Span<float> values, double stddev);

 private:
  struct State;
  explicit NoiseSource(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DP_NOISE_SOURCE_H_
