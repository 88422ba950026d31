// Internal to fl_crypto: owning pointers for OpenSSL objects and conversion
// of the thread's OpenSSL error queue into an absl::Status. Every failure
// path drains the queue, so a stale error never leaks into an unrelated
// caller on the same thread (gRPC's TLS reads that queue too).
#ifndef FEDLEARN_COMMON_CRYPTO_OPENSSL_UTIL_H_
#define FEDLEARN_COMMON_CRYPTO_OPENSSL_UTIL_H_

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>

#include <memory>
#include <string_view>

#include "absl/status/status.h"

namespace fedlearn {
namespace crypto_internal {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};

using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO, BIO_free_all>>;
using EvpPkeyPtr =
    std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using EvpPkeyCtxPtr =
    std::unique_ptr<EVP_PKEY_CTX,
                    OpenSslDeleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using EvpCipherCtxPtr =
    std::unique_ptr<EVP_CIPHER_CTX,
                    OpenSslDeleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using EvpMdCtxPtr =
    std::unique_ptr<EVP_MD_CTX, OpenSslDeleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using EvpKdfCtxPtr =
    std::unique_ptr<EVP_KDF_CTX, OpenSslDeleter<EVP_KDF_CTX, EVP_KDF_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509, X509_free>>;
using X509StorePtr =
    std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE, X509_STORE_free>>;
using X509StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX,
                    OpenSslDeleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

// A status with `code`, `what` and the reasons on the OpenSSL error queue,
// which it empties. The queue never holds key material, only reason codes.
absl::Status OpenSslError(absl::StatusCode code, std::string_view what);

// Read-only memory BIO over `data` (no copy; `data` must outlive it).
BioPtr MemoryBio(std::string_view data);

}  // namespace crypto_internal
}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_OPENSSL_UTIL_H_
