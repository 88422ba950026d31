#include "common/dp/noise_source.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "absl/status/status.h"

namespace fedlearn {
namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kAesBlockBytes = 16;
// Keystream is produced 4 KiB at a time: one EVP call per 512 words keeps
// the per-call overhead negligible while the buffer stays in L1.
constexpr size_t kBufferBytes = 4096;
// FromSeedForTesting's key is SHA-256(kTestSeedDomain || LE64(seed)). The
// domain string keeps these test keys apart from every other SHA-256 use.
constexpr char kTestSeedDomain[] = "fedlearn/dp/noise_source/test-seed/v1";

alignas(64) const unsigned char kZeros[kBufferBytes] = {};

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

// The reasons on the thread's OpenSSL error queue, which this empties.
std::string DrainOpenSslErrors() {
  std::string reasons;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!reasons.empty()) reasons += "; ";
    reasons += buf;
  }
  return reasons;
}

// AES-256-CTR on a valid context cannot fail short of memory corruption or a
// broken OpenSSL install, and a noise source that silently stopped adding
// noise would be a privacy failure, so these paths end the process.
[[noreturn]] void DieOnOpenSslFailure(const char* what) {
  std::fprintf(stderr, "fedlearn NoiseSource: %s failed: %s\n", what,
               DrainOpenSslErrors().c_str());
  std::abort();
}

}  // namespace

struct NoiseSource::State {
  struct CtxDeleter {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
  };

  // The expanded key lives only inside `ctx`; EVP_CIPHER_CTX_free wipes it.
  // Null if OpenSSL could not set up the cipher.
  static std::unique_ptr<State> Create(const unsigned char* key) {
    auto state = std::make_unique<State>();
    static const unsigned char kZeroIv[kAesBlockBytes] = {};
    state->ctx.reset(EVP_CIPHER_CTX_new());
    if (state->ctx == nullptr ||
        EVP_EncryptInit_ex(state->ctx.get(), EVP_aes_256_ctr(), nullptr, key,
                           kZeroIv) != 1) {
      return nullptr;
    }
    return state;
  }

  // Unread keystream decides future draws and read keystream decides past
  // ones (knowing the noise added to a published value removes it), so the
  // buffer and the cached normal are wiped too.
  ~State() {
    OPENSSL_cleanse(buffer, sizeof(buffer));
    OPENSSL_cleanse(&spare_normal, sizeof(spare_normal));
  }

  void Refill() {
    int len = 0;
    if (EVP_EncryptUpdate(ctx.get(), buffer, &len, kZeros,
                          static_cast<int>(kBufferBytes)) != 1 ||
        static_cast<size_t>(len) != kBufferBytes) {
      DieOnOpenSslFailure("AES-256-CTR keystream");
    }
    next = 0;
  }

  std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> ctx;
  alignas(64) unsigned char buffer[kBufferBytes];
  size_t next = kBufferBytes;  // first unread byte of `buffer`
  // Polar Box-Muller yields normals in pairs; the second waits here.
  bool has_spare_normal = false;
  double spare_normal = 0.0;
};

NoiseSource::NoiseSource(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
NoiseSource::NoiseSource(NoiseSource&&) noexcept = default;
NoiseSource& NoiseSource::operator=(NoiseSource&&) noexcept = default;
NoiseSource::~NoiseSource() = default;

absl::StatusOr<NoiseSource> NoiseSource::FromOsEntropy() {
  unsigned char key[kKeyBytes];
  if (RAND_priv_bytes(key, sizeof(key)) != 1) {
    OPENSSL_cleanse(key, sizeof(key));
    return absl::InternalError("RAND_priv_bytes failed: " +
                               DrainOpenSslErrors());
  }
  std::unique_ptr<State> state = State::Create(key);
  OPENSSL_cleanse(key, sizeof(key));
  if (state == nullptr) {
    return absl::InternalError("AES-256-CTR init failed: " +
                               DrainOpenSslErrors());
  }
  return NoiseSource(std::move(state));
}

NoiseSource NoiseSource::FromSeedForTesting(uint64_t seed) {
  unsigned char input[sizeof(kTestSeedDomain) - 1 + sizeof(seed)];
  std::memcpy(input, kTestSeedDomain, sizeof(kTestSeedDomain) - 1);
  for (size_t i = 0; i < sizeof(seed); ++i) {
    input[sizeof(kTestSeedDomain) - 1 + i] =
        static_cast<unsigned char>(seed >> (8 * i));  // little-endian
  }
  unsigned char key[kKeyBytes];
  unsigned int key_len = 0;
  const int ok =
      EVP_Digest(input, sizeof(input), key, &key_len, EVP_sha256(), nullptr);
  if (ok != 1 || key_len != kKeyBytes) {
    DieOnOpenSslFailure("SHA-256 of the test seed");
  }
  std::unique_ptr<State> state = State::Create(key);
  OPENSSL_cleanse(key, sizeof(key));
  if (state == nullptr) DieOnOpenSslFailure("AES-256-CTR init");
  return NoiseSource(std::move(state));
}

uint64_t NoiseSource::NextU64() {
  State& s = *state_;
  if (s.next == kBufferBytes) s.Refill();
  uint64_t word;
  std::memcpy(&word, s.buffer + s.next, sizeof(word));
  s.next += sizeof(word);
  if constexpr (!kLittleEndian) word = __builtin_bswap64(word);
  return word;
}

// Lemire, "Fast Random Integer Generation in an Interval" (ACM TOMACS 2019):
// the high word of x * bound is uniform on [0, bound) once the low word is
// conditioned to lie at or above 2^64 mod bound. That is exact rejection (no
// modulo bias) and rarely needs the division or a second draw.
uint64_t NoiseSource::UniformBelow(uint64_t bound) {
  if (bound <= 1) return 0;  // bound == 0 is a caller error; [0, 1) is {0}
  uint128 product = static_cast<uint128>(NextU64()) * bound;
  uint64_t low = static_cast<uint64_t>(product);
  if (low < bound) {
    const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    while (low < threshold) {
      product = static_cast<uint128>(NextU64()) * bound;
      low = static_cast<uint64_t>(product);
    }
  }
  return static_cast<uint64_t>(product >> 64);
}

// Above 2^64, draws 128 bits masked to the bit length of bound - 1 and
// rejects values >= bound (acceptance > 1/2); below, the 64-bit path.
uint128 NoiseSource::UniformBelow128(uint128 bound) {
  constexpr uint128 kTwoTo64 = static_cast<uint128>(1) << 64;
  if (bound < kTwoTo64) return UniformBelow(static_cast<uint64_t>(bound));
  if (bound == kTwoTo64) return NextU64();
  const uint64_t high_bits_of_max = static_cast<uint64_t>((bound - 1) >> 64);
  const uint64_t high_mask = ~uint64_t{0} >> __builtin_clzll(high_bits_of_max);
  while (true) {
    // Two statements: the order of the draws must not be left to the
    // compiler, or seeded streams would differ between builds.
    const uint64_t high = NextU64() & high_mask;
    const uint64_t low = NextU64();
    const uint128 x = (static_cast<uint128>(high) << 64) | low;
    if (x < bound) return x;
  }
}

// k / 2^53 for a uniform 53-bit k, redrawn when k = 0: uniform on the 2^53 - 1
// points of (0, 1) spaced 2^-53 apart, all exact doubles, mean exactly 1/2.
// ((k + 0.5) / 2^53 would need 54 significant bits and round to 1.0 at the
// top.) The redraw happens with probability 2^-53.
double NoiseSource::UniformOpen01() {
  while (true) {
    const uint64_t k = NextU64() >> 11;
    if (k != 0) return static_cast<double>(k) * 0x1p-53;
  }
}

// Marsaglia's polar method: (u, v) uniform in the open unit disc minus the
// origin, s = u^2 + v^2; then u * sqrt(-2 ln s / s) and v * sqrt(-2 ln s / s)
// are independent N(0, 1). 2U - 1 is exact for U on the 2^-53 grid.
double NoiseSource::Gaussian(double stddev) {
  State& s = *state_;
  if (s.has_spare_normal) {
    s.has_spare_normal = false;
    return stddev * s.spare_normal;
  }
  double u, v, r2;
  do {
    u = 2.0 * UniformOpen01() - 1.0;
    v = 2.0 * UniformOpen01() - 1.0;
    r2 = u * u + v * v;
  } while (r2 >= 1.0 || r2 == 0.0);
  const double factor = std::sqrt(-2.0 * std::log(r2) / r2);
  s.spare_normal = v * factor;
  s.has_spare_normal = true;
  return stddev * (u * factor);
}

void NoiseSource::AddGaussian(absl::Span<float> values, double stddev) {
  // The sum is formed in double and rounded to float once.
  for (float& value : values) {
    value = static_cast<float>(static_cast<double>(value) + Gaussian(stddev));
  }
}

}  // namespace fedlearn
