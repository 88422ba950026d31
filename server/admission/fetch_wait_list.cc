#include "server/admission/fetch_wait_list.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace fedlearn {

FetchWaitList::FetchWaitList(const Clock* clock, size_t max_waiting)
    : clock_(clock), max_waiting_(max_waiting) {}

FetchWaitList::~FetchWaitList() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FetchWaitList::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      TimePoint next;
      const TimePoint now = clock_->Now();
      if (DueLocked(now, &next)) {
        lock.unlock();
        RunDue();
        lock.lock();
        continue;
      }
      if (next == TimePoint::max()) {
        changed_.wait(lock);
      } else {
        changed_.wait_for(lock, next - now + std::chrono::milliseconds(1));
      }
    }
  });
}

uint64_t FetchWaitList::epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return epoch_;
}

absl::StatusOr<uint64_t> FetchWaitList::Add(Waiter* waiter, Duration wait,
                                            uint64_t seen_epoch) {
  const TimePoint deadline = clock_->Now() + wait;
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      return absl::FailedPreconditionError("the coordinator takes no waits");
    }
    if (entries_.size() >= max_waiting_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "coordinator busy: ", max_waiting_,
          " task fetches are waiting already (limits.max_waiting_fetches)"));
    }
    id = next_id_++;
    entries_.emplace(id, Entry{waiter, deadline, seen_epoch});
    by_deadline_.insert({deadline, id});
    if (seen_epoch < epoch_) wake_owed_ = true;
  }
  changed_.notify_all();
  return id;
}

void FetchWaitList::Remove(uint64_t id) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) {
    by_deadline_.erase({it->second.deadline, id});
    entries_.erase(it);
  }
  if (runner_ == std::this_thread::get_id()) return;  // from the callback
  changed_.wait(lock, [&] { return firing_.count(id) == 0; });
}

void FetchWaitList::WakeAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++epoch_;
    wake_owed_ = true;
  }
  changed_.notify_all();
}

void FetchWaitList::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    ++epoch_;
    wake_owed_ = true;
  }
  changed_.notify_all();
}

bool FetchWaitList::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

bool FetchWaitList::DueLocked(TimePoint now, TimePoint* next) const {
  *next = by_deadline_.empty() ? TimePoint::max() : by_deadline_.begin()->first;
  return wake_owed_ || *next <= now;
}

int FetchWaitList::RunDue() {
  const TimePoint now = clock_->Now();
  struct Call {
    uint64_t id;
    Waiter* waiter;
    bool expired;
    bool final;
    bool keep = false;
  };
  std::vector<Call> calls;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A closed list answers everyone (final wakes) instead of expiring.
    while (!closed_ && !by_deadline_.empty() &&
           by_deadline_.begin()->first <= now) {
      const uint64_t id = by_deadline_.begin()->second;
      by_deadline_.erase(by_deadline_.begin());
      auto it = entries_.find(id);
      calls.push_back({id, it->second.waiter, true, false});
      entries_.erase(it);
      firing_.insert(id);
    }
    if (wake_owed_) {
      wake_owed_ = false;
      for (auto& [id, entry] : entries_) {
        if (entry.seen_epoch >= epoch_) continue;
        entry.seen_epoch = epoch_;
        calls.push_back({id, entry.waiter, false, closed_});
        firing_.insert(id);
      }
    }
    if (calls.empty()) return 0;
    runner_ = std::this_thread::get_id();
  }
  for (Call& call : calls) {
    if (call.expired) {
      call.waiter->OnExpired();
    } else {
      call.keep = call.waiter->OnWake(call.final) && !call.final;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Call& call : calls) {
      firing_.erase(call.id);
      if (call.expired || call.keep) continue;
      auto it = entries_.find(call.id);
      if (it == entries_.end()) continue;
      by_deadline_.erase({it->second.deadline, call.id});
      entries_.erase(it);
    }
    runner_ = std::thread::id();
  }
  changed_.notify_all();
  return static_cast<int>(calls.size());
}

size_t FetchWaitList::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace fedlearn
