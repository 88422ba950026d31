#include "common/crypto/secure_prng.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <climits>
#include <string>

#include "common/crypto/openssl_util.h"

namespace fedlearn {
namespace {

constexpr char kTestingPrngLabel[] = "fedlearn/secure-prng-for-testing/v1";

// RAND_* and EVP_*Update take int lengths.
constexpr size_t kMaxChunk = static_cast<size_t>(INT_MAX) & ~size_t{15};

}  // namespace

absl::Status OsSecurePrng::Fill(absl::Span<uint8_t> out) {
  for (size_t done = 0; done < out.size();) {
    const size_t n = std::min(kMaxChunk, out.size() - done);
    if (RAND_priv_bytes(out.data() + done, static_cast<int>(n)) != 1) {
      return crypto_internal::OpenSslError(absl::StatusCode::kInternal,
                                           "RAND_priv_bytes");
    }
    done += n;
  }
  return absl::OkStatus();
}

SecurePrng& OsPrng() {
  static OsSecurePrng* const prng = new OsSecurePrng();
  return *prng;
}

DeterministicPrngForTesting::DeterministicPrngForTesting(
    std::string_view seed) {
  std::string input(kTestingPrngLabel);
  input.append(seed.data(), seed.size());
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         key_);
}

DeterministicPrngForTesting::~DeterministicPrngForTesting() {
  OPENSSL_cleanse(key_, sizeof(key_));
}

void DeterministicPrngForTesting::CipherDeleter::operator()(
    EVP_CIPHER_CTX* ctx) const {
  EVP_CIPHER_CTX_free(ctx);  // clears the expanded key
}

absl::Status DeterministicPrngForTesting::Fill(absl::Span<uint8_t> out) {
  if (ctx_ == nullptr) {
    const unsigned char zero_counter[16] = {};
    ctx_.reset(EVP_CIPHER_CTX_new());
    if (ctx_ == nullptr ||
        EVP_EncryptInit_ex(ctx_.get(), EVP_aes_256_ctr(), nullptr, key_,
                           zero_counter) != 1) {
      ctx_.reset();
      return crypto_internal::OpenSslError(absl::StatusCode::kInternal,
                                           "AES-256-CTR init");
    }
  }
  std::fill(out.begin(), out.end(), 0);
  for (size_t done = 0; done < out.size();) {
    const size_t n = std::min(kMaxChunk, out.size() - done);
    int len = 0;
    // CTR keeps its position inside a block across calls, so the stream
    // continues exactly where the previous Fill stopped.
    if (EVP_EncryptUpdate(ctx_.get(), out.data() + done, &len,
                          out.data() + done, static_cast<int>(n)) != 1 ||
        static_cast<size_t>(len) != n) {
      return crypto_internal::OpenSslError(absl::StatusCode::kInternal,
                                           "AES-256-CTR keystream");
    }
    done += n;
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
