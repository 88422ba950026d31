// Process-wide memos of what CertificateVerifier (signature.h) has already
// established, so that a party checking the same certificates round after
// round (a secure-aggregation client checks every neighbour's; 1,000
// virtual clients in one fedlearn-sim process check each other's) parses
// and verifies each once:
//   - SharedAnchors: the federation's CA PEM parsed into a trust store, by
//     the SHA-256 of the PEM, with the anchors' common validity window;
//   - VerifiedKeyCache: the public key of a leaf certificate that passed the
//     full check (chains to those anchors, TLS-client purpose, its only CN
//     the expected identity), by SHA-256 over (anchors digest, certificate
//     PEM, identity), with the window in which the chain is valid.
// A hit is served only while the current time is inside the stored window,
// so expiry is enforced exactly as a fresh check would; a different CA,
// certificate byte or identity is a different key, so it is checked afresh.
// Nothing secret is stored (CA certificates, public keys). Both caches are
// bounded; when full they are emptied, costing a re-check, never a wrong
// answer. A third memo, VerifiedSignatureCache, records (verified key,
// message, signature) triples that verified, so that the ~k neighbours of a
// client in one process that each check its advertisement and consistency
// signature pay one signature check between them: verification is a
// deterministic function of the triple, and only successes are stored, keyed
// by a SHA-256 over the whole triple (the key by the leaf cache's key, which
// binds CA, certificate and identity). Revocation is not part of this check (it
// never was: CRLs are the coordinator's, server/identity/), so caching does not
// change it.
//
// Thread-safe: every function may be called from any thread.
#ifndef FEDLEARN_COMMON_CRYPTO_VERIFICATION_CACHE_H_
#define FEDLEARN_COMMON_CRYPTO_VERIFICATION_CACHE_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstddef>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "absl/status/statusor.h"
#include "common/crypto/certificate_chain.h"
#include "common/crypto/openssl_util.h"

namespace fedlearn {

// [not_before, not_after] in seconds since the epoch.
struct ValidityWindow {
  std::time_t not_before = 0;
  std::time_t not_after = 0;
  bool Contains(std::time_t now) const {
    return not_before <= now && now <= not_after;
  }
  // The window in which both hold.
  ValidityWindow Intersect(const ValidityWindow& other) const;
};

// The certificate's own notBefore/notAfter. InvalidArgument if unreadable.
absl::StatusOr<ValidityWindow> ValidityOf(const X509* cert);

struct CachedAnchors {
  TrustAnchors anchors;
  std::string digest;     // hex SHA-256 of the CA PEM
  ValidityWindow window;  // every anchor is valid inside it
};

// The anchors for `ca_pem`, parsed on first use. Unauthenticated (as
// TrustAnchors::Create) if the PEM holds no certificate.
absl::StatusOr<std::shared_ptr<const CachedAnchors>> SharedAnchors(
    std::string_view ca_pem);

class VerifiedKeyCache {
 public:
  static constexpr size_t kCapacity = 16384;

  // The one instance CertificateVerifier uses.
  static VerifiedKeyCache& Shared();

  // The cache key of (anchors, certificate, identity).
  static std::string Key(const CachedAnchors& anchors,
                         std::string_view cert_pem, std::string_view identity);

  // A new reference to the key stored under `key`, if its window holds
  // `now`; null otherwise.
  crypto_internal::EvpPkeyPtr Find(const std::string& key, std::time_t now);
  // Stores a reference to `public_key` (the caller keeps its own).
  void Insert(const std::string& key, EVP_PKEY* public_key,
              ValidityWindow window);

  size_t size() const;
  uint64_t hits() const;
  void Clear();

 private:
  struct Entry {
    crypto_internal::EvpPkeyPtr key;
    ValidityWindow window;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  uint64_t hits_ = 0;                               // guarded by mu_
};

// Signatures that verified, by SHA-256 over (the VerifiedKeyCache key of the
// signer's certificate, message, signature), each length-prefixed. A miss
// costs a real check; a hit needs the exact bytes that passed before.
class VerifiedSignatureCache {
 public:
  static constexpr size_t kCapacity = 1 << 16;

  // The one instance VerifiedIdentity::Verify uses.
  static VerifiedSignatureCache& Shared();

  // The memo key of one (signer, message, signature) triple; `signer` is a
  // VerifiedKeyCache::Key.
  static std::string Key(std::string_view signer, std::string_view message,
                         std::string_view signature);

  // True iff `key` was Inserted (and not cleared since).
  bool Contains(const std::string& key);
  // REQUIRES: the triple behind `key` verified.
  void Insert(std::string key);

  size_t size() const;
  uint64_t hits() const;
  void Clear();

 private:
  mutable std::mutex mu_;
  std::unordered_set<std::string> entries_;  // guarded by mu_
  uint64_t hits_ = 0;                        // guarded by mu_
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_CRYPTO_VERIFICATION_CACHE_H_
