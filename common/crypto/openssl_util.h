// OpenSSL plumbing shared by the libraries in common/ that call OpenSSL
// (crypto, tls, transport); nothing above common/ should need it.
//
// Guarantees: owning pointers free their object exactly once; every failure
// path drains the thread's OpenSSL error queue into the returned status, so
// a stale error never leaks into an unrelated caller on the same thread
// (gRPC's TLS reads that queue too). The queue never holds key material,
// only reason codes. Thread-safe: no shared state.
#ifndef FEDLEARN_COMMON_CRYPTO_OPENSSL_UTIL_H_
#define FEDLEARN_COMMON_CRYPTO_OPENSSL_UTIL_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/secret_bytes.h"

namespace fedlearn {
namespace crypto_internal {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};

using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO, BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BIGNUM, BN_free>>;
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
using X509ExtensionPtr =
    std::unique_ptr<X509_EXTENSION,
                    OpenSslDeleter<X509_EXTENSION, X509_EXTENSION_free>>;
using X509StorePtr =
    std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE, X509_STORE_free>>;
using X509StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX,
                    OpenSslDeleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

// A status with `code`, `what` and the reasons on the OpenSSL error queue,
// which it empties.
absl::Status OpenSslError(absl::StatusCode code, std::string_view what);

// Read-only memory BIO over `data` (no copy; `data` must outlive it). Null
// if `data` is longer than INT_MAX or OpenSSL is out of memory.
BioPtr MemoryBio(std::string_view data);

// The first PEM certificate in `pem`. InvalidArgument if there is none.
absl::StatusOr<X509Ptr> ParseCertificate(std::string_view pem);

// Every PEM certificate in `pem`, in order; empty if there is none.
std::vector<X509Ptr> ParseCertificates(std::string_view pem);

// An unencrypted PEM private key. InvalidArgument (never echoing the key) if
// `pem` holds none or an encrypted one: nothing here prompts for a
// passphrase.
absl::StatusOr<EvpPkeyPtr> ParsePrivateKey(std::string_view pem);

// `key` as unencrypted PKCS#8 PEM, produced in an OpenSSL buffer that is
// wiped when freed and copied straight into SecretBytes.
absl::StatusOr<SecretBytes> PrivateKeyToPem(EVP_PKEY* key);

// `cert` as PEM.
absl::StatusOr<std::string> CertificateToPem(X509* cert);

}  // namespace crypto_internal
}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_OPENSSL_UTIL_H_
