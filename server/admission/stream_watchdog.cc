#include "server/admission/stream_watchdog.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace fedlearn {

StreamWatchdog::StreamWatchdog(const Clock* clock) : clock_(clock) {}

StreamWatchdog::~StreamWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StreamWatchdog::Start(Duration period) {
  thread_ = std::thread([this, period] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      changed_.wait_for(lock, period, [this] { return stop_; });
      if (stop_) break;
      lock.unlock();
      Sweep();
      lock.lock();
    }
  });
}

uint64_t StreamWatchdog::Watch(Duration idle_timeout, Duration deadline,
                               Expiry on_expire) {
  const TimePoint now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_id_++;
  entries_.emplace(
      id, Entry{idle_timeout, now, now + deadline, std::move(on_expire)});
  return id;
}

void StreamWatchdog::Touch(uint64_t id) {
  const TimePoint now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.last_activity = now;
}

void StreamWatchdog::Unwatch(uint64_t id) {
  std::unique_lock<std::mutex> lock(mu_);
  entries_.erase(id);
  if (sweeper_ == std::this_thread::get_id()) return;  // from the callback
  changed_.wait(lock, [&] { return firing_.count(id) == 0; });
}

int StreamWatchdog::Sweep() {
  const TimePoint now = clock_->Now();
  std::vector<std::pair<uint64_t, std::pair<Expiry, absl::Status>>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      const Entry& e = it->second;
      absl::Status why;
      if (now >= e.deadline) {
        why = absl::DeadlineExceededError(
            "stream open longer than its deadline (limits.stream_deadline_s)");
      } else if (now - e.last_activity >= e.idle_timeout) {
        why = absl::DeadlineExceededError(
            absl::StrCat("no message for ", e.idle_timeout.count(),
                         " ms (limits.stream_idle_timeout_s): stream closed"));
      }
      if (why.ok()) {
        ++it;
        continue;
      }
      firing_.insert(it->first);
      due.push_back({it->first, {std::move(it->second.on_expire), why}});
      it = entries_.erase(it);
    }
    if (due.empty()) return 0;
    sweeper_ = std::this_thread::get_id();
  }
  for (auto& [id, call] : due) call.first(call.second);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& entry : due) firing_.erase(entry.first);
    sweeper_ = std::thread::id();
  }
  changed_.notify_all();
  return static_cast<int>(due.size());
}

size_t StreamWatchdog::watched() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace fedlearn
