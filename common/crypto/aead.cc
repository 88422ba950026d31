#include "common/crypto/aead.h"

#include <openssl/evp.h>

#include <climits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/openssl_util.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using crypto_internal::EvpCipherCtxPtr;
using crypto_internal::OpenSslError;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

absl::Status CheckKeyAndLengths(const SecretBytes& key, size_t text_size,
                                size_t aad_size) {
  if (key.size() != kAeadKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AES-256-GCM key must be ", kAeadKeyBytes, " bytes, got ", key.size()));
  }
  // EVP_*Update take int lengths.
  if (text_size >
          static_cast<size_t>(INT_MAX) - kAeadNonceBytes - kAeadTagBytes ||
      aad_size > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("AES-256-GCM input too large");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SealWithNonce(const SecretBytes& key,
                                          std::string_view nonce,
                                          std::string_view plaintext,
                                          std::string_view associated_data) {
  RETURN_IF_ERROR(
      CheckKeyAndLengths(key, plaintext.size(), associated_data.size()));
  if (nonce.size() != kAeadNonceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM nonce must be ", kAeadNonceBytes, " bytes"));
  }
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  // 12 bytes is GCM's default IV length, so no EVP_CTRL_GCM_SET_IVLEN.
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(),
                         Bytes(nonce)) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM init");
  }
  std::string out(kAeadNonceBytes + plaintext.size() + kAeadTagBytes, '\0');
  out.replace(0, kAeadNonceBytes, nonce);
  auto* ct = reinterpret_cast<unsigned char*>(out.data()) + kAeadNonceBytes;
  int len = 0;
  if (!associated_data.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(associated_data),
                        static_cast<int>(associated_data.size())) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM AAD");
  }
  int written = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), ct, &len, Bytes(plaintext),
                          static_cast<int>(plaintext.size())) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM encrypt");
    }
    written = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), ct + written, &len) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM final");
  }
  written += len;
  if (static_cast<size_t>(written) != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAeadTagBytes,
                          ct + written) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM tag");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> AeadSeal(const SecretBytes& key,
                                     std::string_view plaintext,
                                     std::string_view associated_data,
                                     SecurePrng& prng) {
  // Random 96-bit nonces: with one key per client pair and a handful of
  // messages per key, the birthday bound (2^-32 at 2^32 messages, SP 800-38D
  // section 8.3) is never approached.
  uint8_t nonce[kAeadNonceBytes];
  RETURN_IF_ERROR(prng.Fill(absl::MakeSpan(nonce)));
  return SealWithNonce(
      key,
      std::string_view(reinterpret_cast<const char*>(nonce), sizeof(nonce)),
      plaintext, associated_data);
}

absl::StatusOr<std::string> AeadSealWithNonceForTesting(
    const SecretBytes& key, std::string_view nonce, std::string_view plaintext,
    std::string_view associated_data) {
  return SealWithNonce(key, nonce, plaintext, associated_data);
}

absl::StatusOr<SecretBytes> AeadOpen(const SecretBytes& key,
                                     std::string_view sealed,
                                     std::string_view associated_data) {
  if (sealed.size() < kAeadNonceBytes + kAeadTagBytes) {
    return absl::DataLossError("AES-256-GCM message truncated");
  }
  const size_t ct_size = sealed.size() - kAeadNonceBytes - kAeadTagBytes;
  RETURN_IF_ERROR(CheckKeyAndLengths(key, ct_size, associated_data.size()));
  const std::string_view nonce = sealed.substr(0, kAeadNonceBytes);
  const std::string_view ct = sealed.substr(kAeadNonceBytes, ct_size);
  // OpenSSL's SET_TAG takes a non-const pointer; copy the tag.
  unsigned char tag[kAeadTagBytes];
  sealed.copy(reinterpret_cast<char*>(tag), kAeadTagBytes,
              kAeadNonceBytes + ct_size);

  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(),
                         Bytes(nonce)) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM init");
  }
  int len = 0;
  if (!associated_data.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(associated_data),
                        static_cast<int>(associated_data.size())) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM AAD");
  }
  // Plaintext lands in a self-wiping buffer and is released only after the
  // tag verifies.
  SecretBytes plaintext(ct_size);
  int written = 0;
  if (ct_size > 0) {
    if (EVP_DecryptUpdate(ctx.get(), plaintext.data(), &len, Bytes(ct),
                          static_cast<int>(ct_size)) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM decrypt");
    }
    written = len;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAeadTagBytes,
                          tag) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-256-GCM set tag");
  }
  unsigned char tail[16];
  if (EVP_DecryptFinal_ex(ctx.get(), tail, &len) != 1) {
    // Tag mismatch; nothing to report from the error queue but drain it.
    return OpenSslError(absl::StatusCode::kDataLoss,
                        "AES-256-GCM authentication failed");
  }
  if (static_cast<size_t>(written + len) != ct_size) {
    return absl::InternalError("AES-256-GCM produced a short plaintext");
  }
  return plaintext;
}

}  // namespace fedlearn
