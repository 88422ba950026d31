#include "common/crypto/key_agreement.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/openssl_util.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using crypto_internal::EvpKdfCtxPtr;
using crypto_internal::EvpPkeyCtxPtr;
using crypto_internal::EvpPkeyPtr;
using crypto_internal::OpenSslError;

// RFC 5869 section 2.3: L <= 255 * HashLen.
constexpr size_t kHkdfSha256MaxLength = 255 * 32;

absl::StatusOr<EvpPkeyPtr> PrivateKeyFromRaw(const SecretBytes& private_key) {
  if (private_key.size() != kX25519KeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("X25519 private key must be ", kX25519KeyBytes,
                     " bytes, got ", private_key.size()));
  }
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_X25519, nullptr, private_key.data(), private_key.size()));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "EVP_PKEY_new_raw_private_key(X25519)");
  }
  return pkey;
}

// The KDF is fetched once; EVP_KDF objects are immutable and thread-safe.
EVP_KDF* HkdfAlgorithm() {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

}  // namespace

absl::StatusOr<X25519KeyPair> GenerateX25519KeyPair(SecurePrng& prng) {
  SecretBytes private_key(kX25519KeyBytes);
  RETURN_IF_ERROR(
      prng.Fill(absl::MakeSpan(private_key.data(), private_key.size())));
  return X25519KeyPairFromPrivate(private_key);
}

absl::StatusOr<X25519KeyPair> X25519KeyPairFromPrivate(
    const SecretBytes& private_key) {
  ASSIGN_OR_RETURN(EvpPkeyPtr pkey, PrivateKeyFromRaw(private_key));
  std::string public_key(kX25519KeyBytes, '\0');
  size_t public_len = public_key.size();
  if (EVP_PKEY_get_raw_public_key(
          pkey.get(), reinterpret_cast<unsigned char*>(public_key.data()),
          &public_len) != 1 ||
      public_len != kX25519KeyBytes) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "EVP_PKEY_get_raw_public_key(X25519)");
  }
  X25519KeyPair pair;
  pair.private_key = private_key.Clone();
  pair.public_key = std::move(public_key);
  return pair;
}

absl::StatusOr<X25519PrivateKey> X25519PrivateKey::Create(
    const SecretBytes& private_key) {
  ASSIGN_OR_RETURN(EvpPkeyPtr key, PrivateKeyFromRaw(private_key));
  return X25519PrivateKey(key.release());
}

X25519PrivateKey::X25519PrivateKey(X25519PrivateKey&& other) noexcept
    : key_(std::exchange(other.key_, nullptr)) {}

X25519PrivateKey& X25519PrivateKey::operator=(
    X25519PrivateKey&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(key_);
    key_ = std::exchange(other.key_, nullptr);
  }
  return *this;
}

X25519PrivateKey::~X25519PrivateKey() { EVP_PKEY_free(key_); }

absl::StatusOr<SecretBytes> X25519SharedSecret(
    const SecretBytes& private_key, std::string_view peer_public_key) {
  ASSIGN_OR_RETURN(X25519PrivateKey key, X25519PrivateKey::Create(private_key));
  return key.SharedSecret(peer_public_key);
}

absl::StatusOr<SecretBytes> X25519PrivateKey::SharedSecret(
    std::string_view peer_public_key) const {
  if (key_ == nullptr) {
    return absl::FailedPreconditionError("X25519 key was moved from");
  }
  if (peer_public_key.size() != kX25519KeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("X25519 public key must be ", kX25519KeyBytes,
                     " bytes, got ", peer_public_key.size()));
  }
  EvpPkeyPtr peer(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_X25519, nullptr,
      reinterpret_cast<const unsigned char*>(peer_public_key.data()),
      peer_public_key.size()));
  if (peer == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "X25519 peer public key rejected");
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_, nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "EVP_PKEY_derive_init");
  }
  if (EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "X25519 peer public key rejected");
  }
  SecretBytes shared(kX25519KeyBytes);
  size_t shared_len = shared.size();
  // OpenSSL itself fails the derivation when the result is all zero (a
  // low-order peer point, RFC 7748 section 6.1); the check below keeps that
  // guarantee independent of the library version.
  if (EVP_PKEY_derive(ctx.get(), shared.data(), &shared_len) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "X25519 derivation failed (low-order peer key?)");
  }
  if (shared_len != kX25519KeyBytes) {
    return absl::InternalError("X25519 derivation returned a short secret");
  }
  static const unsigned char kZero[kX25519KeyBytes] = {};
  if (CRYPTO_memcmp(shared.data(), kZero, kX25519KeyBytes) == 0) {
    return absl::InvalidArgumentError(
        "X25519 shared secret is all zero (low-order peer key)");
  }
  return shared;
}

absl::StatusOr<SecretBytes> HkdfSha256(const SecretBytes& ikm,
                                       std::string_view salt,
                                       std::string_view info, size_t length) {
  if (length == 0 || length > kHkdfSha256MaxLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("HKDF-SHA256 output length must be in [1, ",
                     kHkdfSha256MaxLength, "], got ", length));
  }
  if (ikm.empty()) {
    return absl::InvalidArgumentError(
        "HKDF-SHA256 needs non-empty key material");
  }
  EVP_KDF* kdf = HkdfAlgorithm();
  if (kdf == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "EVP_KDF_fetch(HKDF)");
  }
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kdf));
  if (ctx == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "EVP_KDF_CTX_new");
  }
  // OSSL_PARAM wants non-const pointers; OpenSSL only reads through them.
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  int n = 0;
  params[n++] =
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()), ikm.size());
  // An absent salt is HashLen zero bytes (RFC 5869 section 2.2), which is
  // what OpenSSL uses when the parameter is not set.
  if (!salt.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size());
  }
  if (!info.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size());
  }
  params[n] = OSSL_PARAM_construct_end();
  SecretBytes okm(length);
  if (EVP_KDF_derive(ctx.get(), okm.data(), okm.size(), params) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "EVP_KDF_derive(HKDF)");
  }
  return okm;
}

}  // namespace fedlearn
