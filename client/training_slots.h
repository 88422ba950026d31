// A counting semaphore bounding how many local trainings run at once. The
// simulation gives N virtual clients as many slots as there are cores, so
// they share the CPU without oversubscribing it; a daemon has one.
//
// Longest job first: a freed slot goes to the waiter with the largest
// `priority` (the simulation passes the site's example count), ties in
// arrival order. When a round's trainings queue at once this ends the round
// with the short ones, so the slots finish together instead of one core
// idling while the largest site trains last.
// Thread-safe.
#ifndef FEDLEARN_CLIENT_TRAINING_SLOTS_H_
#define FEDLEARN_CLIENT_TRAINING_SLOTS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <utility>

namespace fedlearn {

class TrainingSlots {
 public:
  explicit TrainingSlots(int slots) : free_(slots < 1 ? 1 : slots) {}

  // Blocks until a slot is free and no waiter ahead of this one (a larger
  // priority, or the same and earlier) is left; false if `cancel` became
  // true first.
  bool Acquire(const std::atomic<bool>& cancel, int64_t priority = 0) {
    std::unique_lock<std::mutex> lock(mu_);
    const Waiter me{priority, -(next_ticket_++)};
    waiting_.insert(me);
    while (free_ == 0 || *waiting_.rbegin() != me) {
      if (cancel.load()) {
        waiting_.erase(me);
        cv_.notify_all();  // the waiter behind this one may be first now
        return false;
      }
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    waiting_.erase(me);
    --free_;
    cv_.notify_all();  // with a slot left, the next waiter goes too
    return true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    ++free_;
    cv_.notify_all();
  }
  // How many callers wait in Acquire (for tests).
  int Waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(waiting_.size());
  }

 private:
  using Waiter = std::pair<int64_t, int64_t>;  // priority, -arrival

  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
  int64_t next_ticket_ = 0;
  std::set<Waiter> waiting_;  // the last is first in line
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_SLOTS_H_
