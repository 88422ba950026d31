#include "common/crypto/mask_prg.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/key_agreement.h"
#include "common/crypto/openssl_util.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using crypto_internal::EvpCipherCtxPtr;
using crypto_internal::OpenSslError;

constexpr char kPrgSalt[] = "fedlearn/secagg/prg/v1";
constexpr size_t kAesBlockBytes = 16;
// Keystream is produced this many bytes at a time. Small enough that the
// zero input and the keystream stay in L1 while the accumulator streams
// through from memory; measured with bench/mask_prg_bench on AES-NI, 4 KiB
// beat 16-64 KiB by ~30% at 1e7 words (L1 thrashing) and tied at 1e6, and
// EVP_EncryptUpdate's per-call cost is already negligible at this size.
constexpr size_t kChunkBytes = 4 * 1024;
constexpr size_t kChunkWords = kChunkBytes / sizeof(uint32_t);

alignas(64) const unsigned char kZeros[kChunkBytes] = {};

// Fetched once; EVP_CIPHER objects are immutable and thread-safe, and an
// explicit fetch skips the per-init implicit lookup of EVP_aes_256_ctr().
const EVP_CIPHER* AesCtrCipher() {
  static EVP_CIPHER* const cipher =
      EVP_CIPHER_fetch(nullptr, "AES-256-CTR", nullptr);
  return cipher;
}

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

inline uint32_t LoadLittleEndian32(const unsigned char* p) {
  uint32_t w;
  std::memcpy(&w, p, sizeof(w));
  if constexpr (!kLittleEndian) w = __builtin_bswap32(w);
  return w;
}

absl::StatusOr<EvpCipherCtxPtr> NewCtrContext(const unsigned char* key,
                                              const unsigned char* iv) {
  const EVP_CIPHER* cipher = AesCtrCipher();
  if (cipher == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "EVP_CIPHER_fetch(AES-256-CTR)");
  }
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, key, iv) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-CTR init");
  }
  return ctx;
}

// Writes the next `n` (<= kChunkBytes) keystream bytes to `out`.
absl::Status NextKeystream(EVP_CIPHER_CTX* ctx, unsigned char* out, size_t n) {
  int len = 0;
  if (EVP_EncryptUpdate(ctx, out, &len, kZeros, static_cast<int>(n)) != 1 ||
      static_cast<size_t>(len) != n) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-CTR update");
  }
  return absl::OkStatus();
}

absl::Status CheckSign(int sign) {
  if (sign != 1 && sign != -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("mask sign must be +1 or -1, got ", sign));
  }
  return absl::OkStatus();
}

// a[i] += sign * (little-endian word i of `keystream`), i < words. Two loops
// rather than a multiply by `sign`, so each vectorizes to a plain packed add
// or subtract (wrapping mod 2^32 is unsigned overflow). Cloned for AVX2
// (picked at load time where the CPU has it): the baseline x86-64 build
// only has 16-byte SSE2 adds, and this loop is ~12% of a mask's time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
void AddKeystreamWords(const unsigned char* keystream, int sign,
                              size_t words, uint32_t* a) {
  if (sign > 0) {
    for (size_t i = 0; i < words; ++i) {
      a[i] += LoadLittleEndian32(keystream + 4 * i);
    }
  } else {
    for (size_t i = 0; i < words; ++i) {
      a[i] -= LoadLittleEndian32(keystream + 4 * i);
    }
  }
}

// Validates the seed and opens the keystream for (seed, domain) at word 0.
// A zero IV is safe because no two (seed, domain) pairs share a key.
absl::StatusOr<EvpCipherCtxPtr> OpenMaskStream(const SecretBytes& seed,
                                               std::string_view domain) {
  ASSIGN_OR_RETURN(MaskKey key, MaskKey::Derive(seed, domain));
  static const unsigned char kZeroIv[kAesBlockBytes] = {};
  return NewCtrContext(key.aes_key().data(), kZeroIv);
}

}  // namespace

absl::Status ExpandMask(const SecretBytes& seed, std::string_view domain,
                        absl::Span<uint32_t> out) {
  ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, OpenMaskStream(seed, domain));
  // The keystream is written straight into `out`, then (on big-endian hosts
  // only) each word is byte-swapped into its little-endian value.
  for (size_t done = 0; done < out.size(); done += kChunkWords) {
    const size_t words = std::min(kChunkWords, out.size() - done);
    auto* bytes = reinterpret_cast<unsigned char*>(out.data() + done);
    RETURN_IF_ERROR(NextKeystream(ctx.get(), bytes, words * sizeof(uint32_t)));
    if constexpr (!kLittleEndian) {
      for (size_t i = 0; i < words; ++i) {
        out[done + i] = __builtin_bswap32(out[done + i]);
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<MaskKey> MaskKey::Derive(const SecretBytes& seed,
                                        std::string_view domain) {
  if (seed.size() != kPrgSeedBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PRG seed must be ", kPrgSeedBytes, " bytes, got ", seed.size()));
  }
  ASSIGN_OR_RETURN(
      SecretBytes key,
      HkdfSha256(seed, std::string_view(kPrgSalt, sizeof(kPrgSalt) - 1), domain,
                 32));
  return MaskKey(std::move(key));
}

struct MaskRangeExpander::Context {
  EvpCipherCtxPtr ctx;  // null until the first Add; keyed once non-null
};

MaskRangeExpander::MaskRangeExpander()
    : context_(std::make_unique<Context>()) {}
MaskRangeExpander::~MaskRangeExpander() = default;

absl::Status MaskRangeExpander::Add(const MaskKey& key, int sign,
                                    uint64_t first_word,
                                    absl::Span<uint32_t> acc) {
  RETURN_IF_ERROR(CheckSign(sign));
  if (acc.empty()) return absl::OkStatus();
  // The counter block of word w is w / 4 (four words per 16-byte block),
  // as one big-endian 128-bit integer.
  unsigned char iv[kAesBlockBytes] = {};
  uint64_t block = first_word / 4;
  for (int i = 15; i >= 8; --i, block >>= 8) {
    iv[i] = static_cast<unsigned char>(block & 0xff);
  }
  // The first call fetches nothing (the cipher is fetched once per process)
  // and allocates the context; later calls only re-key it.
  const EVP_CIPHER* cipher = nullptr;
  if (context_->ctx == nullptr) {
    cipher = AesCtrCipher();
    context_->ctx.reset(EVP_CIPHER_CTX_new());
    if (cipher == nullptr || context_->ctx == nullptr) {
      context_->ctx.reset();
      return OpenSslError(absl::StatusCode::kInternal,
                          "EVP_CIPHER_fetch(AES-256-CTR)");
    }
  }
  if (EVP_EncryptInit_ex(context_->ctx.get(), cipher, nullptr,
                         key.aes_key().data(), iv) != 1) {
    context_->ctx.reset();
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-CTR init");
  }
  alignas(64) unsigned char keystream[kChunkBytes];
  absl::Status status = absl::OkStatus();
  // Bytes of the first chunk that precede first_word inside its block.
  size_t skip = (first_word % 4) * sizeof(uint32_t);
  for (size_t done = 0; done < acc.size();) {
    const size_t words =
        std::min((kChunkBytes - skip) / sizeof(uint32_t), acc.size() - done);
    status = NextKeystream(context_->ctx.get(), keystream,
                           skip + words * sizeof(uint32_t));
    if (!status.ok()) break;
    AddKeystreamWords(keystream + skip, sign, words, acc.data() + done);
    done += words;
    skip = 0;
  }
  OPENSSL_cleanse(keystream, sizeof(keystream));
  return status;
}

absl::Status AddMask(const SecretBytes& seed, std::string_view domain, int sign,
                     absl::Span<uint32_t> acc) {
  RETURN_IF_ERROR(CheckSign(sign));
  ASSIGN_OR_RETURN(MaskKey key, MaskKey::Derive(seed, domain));
  MaskRangeExpander expander;
  return expander.Add(key, sign, /*first_word=*/0, acc);
}

absl::StatusOr<std::string> Aes256CtrKeystreamForTesting(
    const SecretBytes& key, std::string_view initial_counter, size_t length) {
  if (key.size() != 32 || initial_counter.size() != kAesBlockBytes) {
    return absl::InvalidArgumentError(
        "AES-256-CTR needs a 32-byte key and a 16-byte counter block");
  }
  ASSIGN_OR_RETURN(
      EvpCipherCtxPtr ctx,
      NewCtrContext(key.data(), reinterpret_cast<const unsigned char*>(
                                    initial_counter.data())));
  std::string out(length, '\0');
  for (size_t done = 0; done < length; done += kChunkBytes) {
    const size_t n = std::min(kChunkBytes, length - done);
    RETURN_IF_ERROR(NextKeystream(
        ctx.get(), reinterpret_cast<unsigned char*>(out.data() + done), n));
  }
  return out;
}

}  // namespace fedlearn
