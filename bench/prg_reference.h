// Timing helpers shared by the mask benchmarks: best-of-repetitions timing,
// the `openssl speed -evp aes-128-ctr` equivalent every mask figure is
// compared with, and the cost of one AddMask.
#ifndef FEDLEARN_BENCH_PRG_REFERENCE_H_
#define FEDLEARN_BENCH_PRG_REFERENCE_H_

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/types/span.h"
#include "common/crypto/mask_prg.h"
#include "common/crypto/secret_bytes.h"

namespace fedlearn::bench {

// Best seconds per call of `fn` over >= 3 repetitions totalling >= min_seconds.
template <typename Fn>
double BestSeconds(Fn fn, double min_seconds = 0.3) {
  using Clock = std::chrono::steady_clock;
  double best = 1e30, total = 0;
  int reps = 0;
  while (total < min_seconds || reps < 3) {
    const auto start = Clock::now();
    fn();
    const double s =
        std::chrono::duration<double>(Clock::now() - start).count();
    best = std::min(best, s);
    total += s;
    ++reps;
  }
  return best;
}

// `openssl speed -evp aes-128-ctr` equivalent: one context, the same 16 KiB
// buffer encrypted in place over and over. GB/s of keystream.
inline double EvpAes128CtrGbps() {
  constexpr size_t kBuffer = 16384;
  constexpr int kBlocksPerCall = 4096;  // 64 MiB per timed call
  std::vector<unsigned char> buf(kBuffer, 0);
  const unsigned char key[16] = {1}, iv[16] = {};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nullptr, key, iv);
  int len = 0;
  const double s = BestSeconds([&] {
    for (int i = 0; i < kBlocksPerCall; ++i) {
      EVP_EncryptUpdate(ctx, buf.data(), &len, buf.data(), kBuffer);
    }
  });
  EVP_CIPHER_CTX_free(ctx);
  return kBuffer * double{kBlocksPerCall} / s / 1e9;
}

// Seconds per AddMask of `words` words with `sign` (best of repetitions);
// exits on failure, since a broken PRG makes every figure meaningless.
inline double AddMaskSeconds(size_t words, int sign = +1) {
  SecretBytes seed(kPrgSeedBytes);
  for (size_t i = 0; i < seed.size(); ++i)
    seed.data()[i] = static_cast<uint8_t>(i);
  std::vector<uint32_t> acc(words, 0);
  bool ok = true;
  const double s = BestSeconds([&] {
    ok &= AddMask(seed, "bench/round/1", sign, absl::MakeSpan(acc)).ok();
  });
  if (!ok) {
    std::fprintf(stderr, "AddMask failed\n");
    std::exit(1);
  }
  return s;
}

}  // namespace fedlearn::bench

#endif  // FEDLEARN_BENCH_PRG_REFERENCE_H_
