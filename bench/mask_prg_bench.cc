// Throughput of secure-aggregation mask expansion (AddMask), measured against
// this machine's own AES-CTR speed.
//
// AddMask is AES-256-CTR over zeros plus a packed add into the accumulator,
// so its ceiling is the AES throughput. The figure that transfers between
// machines is therefore not absolute GB/s but the ratio to the equivalent of
// `openssl speed -evp aes-128-ctr` (16 KiB buffers, one EVP context), timed
// in the same run. Target: ratio >= 0.5. AES-256 runs 14 rounds against
// AES-128's 10, so even a perfect AddMask would sit near 10/14 = 0.71.
//
// GB/s counts mask bytes produced: 4 bytes per word; 1 GB = 1e9 bytes.
// Each row is the best of repeated timings lasting >= 0.3 s in total.
//
// Usage: mask_prg_bench   (Release build; about 5 s, single-threaded)

#include <openssl/evp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "bench/prg_reference.h"
#include "common/crypto/mask_prg.h"
#include "common/crypto/secret_bytes.h"

#ifndef FEDLEARN_BENCH_BUILD_TYPE
#define FEDLEARN_BENCH_BUILD_TYPE "unknown"
#endif

namespace {

using Clock = std::chrono::steady_clock;

using fedlearn::bench::AddMaskSeconds;
using fedlearn::bench::EvpAes128CtrGbps;

// The 16384-byte column of the real `openssl speed`, in GB/s, or < 0.
double OpenSslSpeedGbps() {
  FILE* pipe = popen(
      "command -v openssl >/dev/null 2>&1 && "
      "openssl speed -evp aes-128-ctr -seconds 1 2>/dev/null",
      "r");
  if (pipe == nullptr) return -1;
  std::string out;
  char line[512];
  while (fgets(line, sizeof(line), pipe) != nullptr) out += line;
  pclose(pipe);
  // Last table row: "AES-128-CTR  <16B>k <64B>k <256B>k <1024B>k <8192B>k
  // <16384B>k" values in thousands of bytes per second.
  const size_t row = out.rfind("AES-128-CTR");
  if (row == std::string::npos) return -1;
  std::vector<double> cols;
  const char* p = out.c_str() + row + 11;
  char* end = nullptr;
  while (true) {
    const double v = std::strtod(p, &end);
    if (end == p) break;
    cols.push_back(v);
    p = end;
    if (*p == 'k') ++p;
  }
  if (cols.size() < 6) return -1;
  return cols[5] * 1000 / 1e9;
}

}  // namespace

int main() {
  std::printf("mask_prg_bench  build=%s\n\n", FEDLEARN_BENCH_BUILD_TYPE);

  const double reference = EvpAes128CtrGbps();
  const double openssl_cli = OpenSslSpeedGbps();
  std::printf("reference: EVP aes-128-ctr, 16 KiB buffer      %7.2f GB/s\n",
              reference);
  if (openssl_cli > 0) {
    std::printf(
        "           `openssl speed -evp aes-128-ctr`    %7.2f GB/s"
        " (16384-byte column)\n",
        openssl_cli);
  } else {
    std::printf("           `openssl speed` unavailable\n");
  }
  std::printf("\n%-10s %-4s %10s %10s %16s\n", "words", "sign", "ms/call",
              "GB/s", "ratio to EVP 128");

  for (size_t words : {size_t{1000000}, size_t{10000000}}) {
    for (int sign : {+1, -1}) {
      const double s = AddMaskSeconds(words, sign);
      const double gbps = words * 4.0 / s / 1e9;
      std::printf("%-10zu %+-4d %10.3f %10.2f %16.2f\n", words, sign, s * 1e3,
                  gbps, gbps / reference);
    }
  }
  return 0;
}
