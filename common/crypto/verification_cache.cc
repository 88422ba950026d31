#include "common/crypto/verification_cache.h"

#include <openssl/asn1.h>

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/sha256.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using crypto_internal::EvpPkeyPtr;
using crypto_internal::ParseCertificates;
using crypto_internal::X509Ptr;

// Enough for every CA a process meets (one per federation, plus tests).
constexpr size_t kAnchorCapacity = 64;

absl::StatusOr<std::time_t> ToUnixTime(const ASN1_TIME* time) {
  std::tm tm = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    return absl::InvalidArgumentError("unreadable certificate validity time");
  }
  return timegm(&tm);
}

}  // namespace

ValidityWindow ValidityWindow::Intersect(const ValidityWindow& other) const {
  return {std::max(not_before, other.not_before),
          std::min(not_after, other.not_after)};
}

absl::StatusOr<ValidityWindow> ValidityOf(const X509* cert) {
  ValidityWindow window;
  ASSIGN_OR_RETURN(window.not_before, ToUnixTime(X509_get0_notBefore(cert)));
  ASSIGN_OR_RETURN(window.not_after, ToUnixTime(X509_get0_notAfter(cert)));
  return window;
}

absl::StatusOr<std::shared_ptr<const CachedAnchors>> SharedAnchors(
    std::string_view ca_pem) {
  static std::mutex mu;
  static auto* cache =
      new std::unordered_map<std::string,
                             std::shared_ptr<const CachedAnchors>>();
  const std::string digest = Sha256Hex(ca_pem);
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache->find(digest); it != cache->end()) return it->second;
  }
  ASSIGN_OR_RETURN(TrustAnchors anchors, TrustAnchors::Create(ca_pem));
  // Valid where every anchor is: a chain needs its root valid too.
  ValidityWindow window{0, std::numeric_limits<std::time_t>::max()};
  for (const X509Ptr& cert : ParseCertificates(ca_pem)) {
    absl::StatusOr<ValidityWindow> own = ValidityOf(cert.get());
    if (!own.ok()) return absl::UnauthenticatedError(own.status().message());
    window = window.Intersect(*own);
  }
  auto entry = std::make_shared<const CachedAnchors>(
      CachedAnchors{std::move(anchors), digest, window});
  std::lock_guard<std::mutex> lock(mu);
  if (cache->size() >= kAnchorCapacity) cache->clear();
  return cache->emplace(digest, std::move(entry)).first->second;
}

VerifiedKeyCache& VerifiedKeyCache::Shared() {
  static auto* cache = new VerifiedKeyCache();
  return *cache;
}

std::string VerifiedKeyCache::Key(const CachedAnchors& anchors,
                                  std::string_view cert_pem,
                                  std::string_view identity) {
  // Length-prefixed, so no two inputs share an encoding.
  std::string material = absl::StrCat(
      "fedlearn/verified-key/v1|", anchors.digest, "|", cert_pem.size(), ":");
  material.append(cert_pem);
  absl::StrAppend(&material, "|", identity.size(), ":");
  material.append(identity);
  return Sha256Hex(material);
}

EvpPkeyPtr VerifiedKeyCache::Find(const std::string& key, std::time_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.window.Contains(now)) return nullptr;
  if (EVP_PKEY_up_ref(it->second.key.get()) != 1) return nullptr;
  ++hits_;
  return EvpPkeyPtr(it->second.key.get());
}

void VerifiedKeyCache::Insert(const std::string& key, EVP_PKEY* public_key,
                              ValidityWindow window) {
  if (public_key == nullptr || EVP_PKEY_up_ref(public_key) != 1) return;
  EvpPkeyPtr owned(public_key);
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= kCapacity) entries_.clear();
  entries_[key] = Entry{std::move(owned), window};
}

size_t VerifiedKeyCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

uint64_t VerifiedKeyCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

void VerifiedKeyCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
}

VerifiedSignatureCache& VerifiedSignatureCache::Shared() {
  static auto* cache = new VerifiedSignatureCache();
  return *cache;
}

std::string VerifiedSignatureCache::Key(std::string_view signer,
                                        std::string_view message,
                                        std::string_view signature) {
  std::string material =
      absl::StrCat("fedlearn/verified-signature/v1|", signer.size(), ":");
  material.append(signer);
  absl::StrAppend(&material, "|", message.size(), ":");
  material.append(message);
  absl::StrAppend(&material, "|", signature.size(), ":");
  material.append(signature);
  return Sha256Hex(material);
}

bool VerifiedSignatureCache::Contains(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.count(key) == 0) return false;
  ++hits_;
  return true;
}

void VerifiedSignatureCache::Insert(std::string key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= kCapacity) entries_.clear();
  entries_.insert(std::move(key));
}

size_t VerifiedSignatureCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

uint64_t VerifiedSignatureCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

void VerifiedSignatureCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
}

}  // namespace fedlearn
