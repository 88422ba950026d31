// The pseudorandom generator that expands a 256-bit seed into a mask:
// AES-256-CTR over a zero stream, keyed by HKDF-SHA256(seed, salt =
// "fedlearn/secagg/prg/v1", info = domain), where `domain` separates
// session, round, mask kind and vector name, so no two masks ever share a
// keystream. Output words are little-endian uint32.
//
// The mask of (seed, domain) is a pure function of the two: any word range
// of it can be expanded on its own (MaskKey + MaskRangeExpander), so one mask
// can be split across threads and the result is identical to one AddMask.
// Thread-safety: the free functions and MaskKey are safe to use from several
// threads at once; one MaskRangeExpander belongs to one thread at a time.
#ifndef FEDLEARN_COMMON_CRYPTO_MASK_PRG_H_
#define FEDLEARN_COMMON_CRYPTO_MASK_PRG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/crypto/secret_bytes.h"

namespace fedlearn {

inline constexpr size_t kPrgSeedBytes = 32;

// out[i] = keystream word i (mod 2^32), for i in [0, out.size()).
absl::Status ExpandMask(const SecretBytes& seed, std::string_view domain,
                        absl::Span<uint32_t> out);
// acc[i] += sign * keystream word i (mod 2^32); sign is +1 or -1. Streams in
// blocks so a 1e7-word mask never needs its own buffer.
absl::Status AddMask(const SecretBytes& seed, std::string_view domain, int sign,
                     absl::Span<uint32_t> acc);

// The AES-256 key of the mask of (seed, domain): HKDF-SHA256(seed, salt,
// domain). Derived once, then any word range of the mask can be expanded
// from it. Move-only key material, wiped on destruction.
class MaskKey {
 public:
  // InvalidArgument unless `seed` is kPrgSeedBytes bytes.
  static absl::StatusOr<MaskKey> Derive(const SecretBytes& seed,
                                        std::string_view domain);
  const SecretBytes& aes_key() const { return aes_key_; }

 private:
  explicit MaskKey(SecretBytes aes_key) : aes_key_(std::move(aes_key)) {}
  SecretBytes aes_key_;
};

// Adds word ranges of masks into accumulators, re-keying one AES-CTR context
// per mask (no per-call cipher fetch or context allocation). Not
// thread-safe: one per thread. The context is freed (and so wiped) on
// destruction.
class MaskRangeExpander {
 public:
  MaskRangeExpander();
  ~MaskRangeExpander();
  MaskRangeExpander(const MaskRangeExpander&) = delete;
  MaskRangeExpander& operator=(const MaskRangeExpander&) = delete;

  // acc[i] += sign * keystream word (first_word + i) of `key`'s mask, for i
  // in [0, acc.size()): words [first_word, first_word + acc.size()) of the
  // mask AddMask adds. sign is +1 or -1. Any first_word (the counter is set
  // to its AES block and the words before it in that block are skipped).
  absl::Status Add(const MaskKey& key, int sign, uint64_t first_word,
                   absl::Span<uint32_t> acc);

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// The keystream core on its own: `length` bytes of AES-256-CTR over zeros,
// starting from the 16-byte counter block `initial_counter` (incremented as
// one big-endian 128-bit integer). The masks above use it with the derived
// key and an all-zero initial block. Exposed so tests can check it against
// NIST SP 800-38A F.5.5.
absl::StatusOr<std::string> Aes256CtrKeystreamForTesting(
    const SecretBytes& key, std::string_view initial_counter, size_t length);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_MASK_PRG_H_
