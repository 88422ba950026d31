// RpcRateLimiter: one token bucket per client identity (rate + burst), on an
// injected clock. Allow(id) spends a token or refuses with
// RESOURCE_EXHAUSTED saying when the next token is due; nothing blocks.
//
// Memory is bounded: at most `max_identities` buckets are kept; when full,
// buckets that have refilled completely (indistinguishable from a fresh
// one) are forgotten, and if none has, new identities are refused.
//
// Thread-safe.
#ifndef FEDLEARN_SERVER_ADMISSION_RPC_RATE_LIMITER_H_
#define FEDLEARN_SERVER_ADMISSION_RPC_RATE_LIMITER_H_

#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "common/util/clock.h"

namespace fedlearn {

class RpcRateLimiter {
 public:
  // REQUIRES: rate_per_second > 0, burst >= 1, max_identities >= 1.
  RpcRateLimiter(const Clock* clock, double rate_per_second, double burst,
                 int max_identities);

  // OK and one token spent, or RESOURCE_EXHAUSTED (no token for `id`, or no
  // room to track a new identity).
  absl::Status Allow(const std::string& id);

  size_t tracked() const;

 private:
  struct Bucket {
    double tokens;
    TimePoint updated;
  };
  double Refilled(const Bucket& bucket, TimePoint now) const;
  void ForgetFullBucketsLocked(TimePoint now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const double rate_;
  const double burst_;
  const size_t max_identities_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ADMISSION_RPC_RATE_LIMITER_H_
