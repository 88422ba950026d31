// UpdateBufferPool: reuses the D-float buffers that plaintext uploads are
// decoded into, so an upload does not pay for a fresh 4·D-byte mapping
// (page faults, the kernel zeroing each page, and std::vector zeroing it
// again) nor for unmapping it afterwards.
//
// Guarantees:
//   - at most `capacity` buffers are kept (the coordinator's
//     max_concurrent_uploads: the memory it must be able to hold at peak
//     anyway); a buffer recycled beyond that, or of another size than the
//     last one acquired, is freed;
//   - Acquire never waits and never fails: with nothing cached it allocates
//     (how many uploads may hold a buffer at once is StreamAdmission's
//     rule, not the pool's);
//   - a reused buffer is NOT cleared: it holds whatever its last user left.
//     REQUIRES of every user: write all of it before reading any of it (an
//     upload is accepted only once every value arrived, UploadAssembler).
// Buffers come back through UpdateSubmission's destructor (round_types.h),
// so every path returns them: accepted, rejected, cancelled or abandoned.
//
// Header-only: round_types.h (included on both sides) destroys
// submissions inline, and no target should need a library for that.
//
// Thread-safe.
#ifndef FEDLEARN_SERVER_ROUND_UPDATE_BUFFER_POOL_H_
#define FEDLEARN_SERVER_ROUND_UPDATE_BUFFER_POOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/flat/flat_vector.h"

namespace fedlearn {

class UpdateBufferPool {
 public:
  // Shared: a buffer's submission may outlive the service that made it
  // (a robust round keeps its updates until it closes).
  static std::shared_ptr<UpdateBufferPool> Create(size_t capacity) {
    return std::shared_ptr<UpdateBufferPool>(new UpdateBufferPool(capacity));
  }

  UpdateBufferPool(const UpdateBufferPool&) = delete;
  UpdateBufferPool& operator=(const UpdateBufferPool&) = delete;

  // A buffer of `size` values: a cached one (contents unspecified) or a new
  // zeroed one. A new size drops every cached buffer of the old one.
  FlatVector Acquire(size_t size) {
    std::vector<FlatVector> dropped;  // freed outside the lock
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (size != size_) {
        dropped.swap(free_);
        size_ = size;
      }
      if (!free_.empty()) {
        FlatVector buffer = std::move(free_.back());
        free_.pop_back();
        ++reused_;
        return buffer;
      }
      ++allocated_;
    }
    return FlatVector(size);
  }
  // Keeps `buffer` for the next Acquire, or frees it (see above). An empty
  // buffer (moved from) is ignored.
  void Recycle(FlatVector buffer) {
    if (buffer.empty()) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (buffer.size() != size_ || free_.size() >= capacity_) return;
    free_.push_back(std::move(buffer));
  }

  size_t capacity() const { return capacity_; }
  size_t cached() const {
    std::lock_guard<std::mutex> lock(mu_);
    return free_.size();
  }
  // Acquires answered from the cache / by a new allocation.
  uint64_t reused() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reused_;
  }
  uint64_t allocated() const {
    std::lock_guard<std::mutex> lock(mu_);
    return allocated_;
  }

 private:
  explicit UpdateBufferPool(size_t capacity) : capacity_(capacity) {}

  const size_t capacity_;
  mutable std::mutex mu_;
  size_t size_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<FlatVector> free_ ABSL_GUARDED_BY(mu_);
  uint64_t reused_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t allocated_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_UPDATE_BUFFER_POOL_H_
