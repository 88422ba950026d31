// SHA-256 of a byte string as lowercase hex: the one digest-to-text helper
// of the tree (contract digests, certificate cache keys, audit-chain
// hashes). OpenSSL EVP; FIPS 180-2 known answer in tests/common/crypto.
// Thread-safe: no state.
#ifndef FEDLEARN_COMMON_CRYPTO_SHA256_H_
#define FEDLEARN_COMMON_CRYPTO_SHA256_H_

#include <string>
#include <string_view>

namespace fedlearn {

// 64 lowercase hex characters.
std::string Sha256Hex(std::string_view bytes);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_SHA256_H_
