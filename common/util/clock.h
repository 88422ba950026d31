// Injected time. Engines ask a Clock instead of calling now() so that every
// deadline and timeout is tested with a FakeClock, without sleeps.
#ifndef FEDLEARN_COMMON_UTIL_CLOCK_H_
#define FEDLEARN_COMMON_UTIL_CLOCK_H_

#include <chrono>
#include <cstdint>
#include <mutex>

namespace fedlearn {

using Clock_t = std::chrono::steady_clock;
using TimePoint = Clock_t::time_point;
using Duration = std::chrono::milliseconds;

// Wall-clock milliseconds since the Unix epoch.
inline int64_t WallClockUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // Wall-clock milliseconds since the Unix epoch, for deadlines on the wire
  // and timestamps in metrics.
  virtual int64_t UnixMillis() const = 0;
};

class SystemClock : public Clock {
 public:
  TimePoint Now() const override { return Clock_t::now(); }
  int64_t UnixMillis() const override { return WallClockUnixMillis(); }
};

// Moves only when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  TimePoint Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  int64_t UnixMillis() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return 1'700'000'000'000 +
           std::chrono::duration_cast<std::chrono::milliseconds>(
               now_.time_since_epoch())
               .count();
  }
  void Advance(Duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_{};
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_UTIL_CLOCK_H_
