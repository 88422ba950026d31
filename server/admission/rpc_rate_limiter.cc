#include "server/admission/rpc_rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace fedlearn {

RpcRateLimiter::RpcRateLimiter(const Clock* clock, double rate_per_second,
                               double burst, int max_identities)
    : clock_(clock),
      rate_(rate_per_second),
      burst_(burst),
      max_identities_(static_cast<size_t>(std::max(1, max_identities))) {}

double RpcRateLimiter::Refilled(const Bucket& bucket, TimePoint now) const {
  const double seconds =
      std::chrono::duration<double>(now - bucket.updated).count();
  return std::min(burst_, bucket.tokens + std::max(0.0, seconds) * rate_);
}

void RpcRateLimiter::ForgetFullBucketsLocked(TimePoint now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = Refilled(it->second, now) >= burst_ ? buckets_.erase(it) : ++it;
  }
}

absl::Status RpcRateLimiter::Allow(const std::string& id) {
  const TimePoint now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(id);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_identities_) ForgetFullBucketsLocked(now);
    if (buckets_.size() >= max_identities_) {
      return absl::ResourceExhaustedError(
          "too many clients are calling at once; retry in 1000 ms");
    }
    it = buckets_.emplace(id, Bucket{burst_, now}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = Refilled(bucket, now);
  bucket.updated = now;
  if (bucket.tokens < 1.0) {
    const int64_t wait_ms =
        static_cast<int64_t>(std::ceil((1.0 - bucket.tokens) / rate_ * 1000.0));
    return absl::ResourceExhaustedError(
        absl::StrCat("rate limit: at most ", rate_, " calls a second (burst ",
                     burst_, ") per client; retry in ", wait_ms, " ms"));
  }
  bucket.tokens -= 1.0;
  return absl::OkStatus();
}

size_t RpcRateLimiter::tracked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buckets_.size();
}

}  // namespace fedlearn
