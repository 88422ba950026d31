// FetchWaitList: the FetchTask streams that found no task and wait for one
// (long poll, FetchTaskRequest.wait_ms), held without a thread each. One
// background thread (Start) serves them all: WakeAll() (an attempt opened)
// asks every waiter to look again; a waiter whose wait ran out is told so,
// once; Close() (the run ended, or the coordinator shuts down) asks every
// waiter for its final answer and refuses new waits from then on.
//
// Guarantees: at most `max_waiting` waiters at once (Add refuses the next
// with RESOURCE_EXHAUSTED naming limits.max_waiting_fetches); a waiter gets
// at most one callback at a time; a WakeAll after a waiter read epoch() is
// never lost (Add with that epoch schedules a wake at once); after Remove(id)
// returns, no callback for `id` runs, except when Remove is called from
// inside that callback. Callbacks run without the list's lock held.
//
// Time comes from an injected Clock; tests call RunDue() directly instead of
// Start(). Thread-safe.
#ifndef FEDLEARN_SERVER_ADMISSION_FETCH_WAIT_LIST_H_
#define FEDLEARN_SERVER_ADMISSION_FETCH_WAIT_LIST_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/util/clock.h"

namespace fedlearn {

class FetchWaitList {
 public:
  class Waiter {
   public:
    virtual ~Waiter() = default;
    // Something changed (`final`: the list closed, answer now): look again.
    // Return true to keep waiting (never after `final`), false when done.
    virtual bool OnWake(bool final) = 0;
    // The wait ran out; the waiter is no longer listed.
    virtual void OnExpired() = 0;
  };

  FetchWaitList(const Clock* clock, size_t max_waiting);
  FetchWaitList(const FetchWaitList&) = delete;
  FetchWaitList& operator=(const FetchWaitList&) = delete;
  ~FetchWaitList();  // stops the thread

  // Serves wakes and expiries on a background thread until destroyed.
  void Start();

  // Read before asking for a task; pass to Add.
  uint64_t epoch() const;
  // Lists `waiter` for `wait` from now; returns its id (never 0).
  // RESOURCE_EXHAUSTED when full, FAILED_PRECONDITION once closed.
  absl::StatusOr<uint64_t> Add(Waiter* waiter, Duration wait,
                               uint64_t seen_epoch);
  void Remove(uint64_t id);
  void WakeAll();
  void Close();
  bool closed() const;

  // Makes every due callback now; returns how many.
  int RunDue();
  size_t waiting() const;

 private:
  struct Entry {
    Waiter* waiter;
    TimePoint deadline;
    uint64_t seen_epoch;
  };
  // Whether any entry needs a callback now; the earliest deadline otherwise.
  bool DueLocked(TimePoint now, TimePoint* next) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const size_t max_waiting_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // (deadline, id) of every entry, earliest first.
  std::set<std::pair<TimePoint, uint64_t>> by_deadline_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // Some entry's seen_epoch < epoch_: RunDue wakes those.
  bool wake_owed_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Ids whose callback is running, and the thread running them.
  std::set<uint64_t> firing_ ABSL_GUARDED_BY(mu_);
  std::thread::id runner_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ADMISSION_FETCH_WAIT_LIST_H_
