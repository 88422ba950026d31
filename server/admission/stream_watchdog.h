// StreamWatchdog: the one place that ends streams that went quiet or ran
// too long. Each watched stream has an idle timeout (reset by Touch) and a
// total deadline, both measured on an injected Clock; Sweep() calls the
// expiry callback of every stream past either, once, with a
// DEADLINE_EXCEEDED status saying which. Start() runs Sweep() on one
// background thread every `period`; tests call Sweep() directly with a
// FakeClock instead.
//
// Callbacks run without the watchdog's lock held (they may call Touch or
// Unwatch). After Unwatch(id) returns, the callback for `id` is not running
// and will never run, except when Unwatch is called from inside that same
// callback.
//
// Thread-safe.
#ifndef FEDLEARN_SERVER_ADMISSION_STREAM_WATCHDOG_H_
#define FEDLEARN_SERVER_ADMISSION_STREAM_WATCHDOG_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "common/util/clock.h"

namespace fedlearn {

class StreamWatchdog {
 public:
  using Expiry = std::function<void(const absl::Status&)>;

  explicit StreamWatchdog(const Clock* clock);
  StreamWatchdog(const StreamWatchdog&) = delete;
  StreamWatchdog& operator=(const StreamWatchdog&) = delete;
  ~StreamWatchdog();  // stops the thread

  // Sweeps every `period` on a background thread until destroyed.
  void Start(Duration period);

  // Returns the stream's id (never 0).
  uint64_t Watch(Duration idle_timeout, Duration deadline, Expiry on_expire);
  // The stream made progress: its idle timeout starts again.
  void Touch(uint64_t id);
  void Unwatch(uint64_t id);
  // Expires every due stream; returns how many.
  int Sweep();
  size_t watched() const;

 private:
  struct Entry {
    Duration idle_timeout;
    TimePoint last_activity;
    TimePoint deadline;
    Expiry on_expire;
  };

  const Clock* const clock_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // Callbacks running now (ids), and the thread running them.
  std::set<uint64_t> firing_ ABSL_GUARDED_BY(mu_);
  std::thread::id sweeper_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ADMISSION_STREAM_WATCHDOG_H_
