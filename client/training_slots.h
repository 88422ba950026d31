// A counting semaphore bounding how many local trainings run at once. The
// simulation gives N virtual clients as many slots as there are cores, so
// they share the CPU without oversubscribing it; a daemon has one.
#ifndef FEDLEARN_CLIENT_TRAINING_SLOTS_H_
#define FEDLEARN_CLIENT_TRAINING_SLOTS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace fedlearn {

class TrainingSlots {
 public:
  explicit TrainingSlots(int slots) : free_(slots < 1 ? 1 : slots) {}

  // Blocks until a slot is free; false if `cancel` became true first.
  bool Acquire(const std::atomic<bool>& cancel) {
    std::unique_lock<std::mutex> lock(mu_);
    while (free_ == 0) {
      if (cancel.load()) return false;
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    --free_;
    return true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    ++free_;
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_SLOTS_H_
