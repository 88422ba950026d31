// TESTING ONLY: a TCP proxy on 127.0.0.1 (OS-chosen port) that forwards
// every accepted connection to 127.0.0.1:target_port and injects faults
// into it, so a test can put a bad network between real clients and a real
// coordinator without touching either.
//
// Faults, drawn from one std::mt19937 seeded by Options::seed:
//   - per forwarded chunk: a delay, uniform in [min_delay_ms, max_delay_ms];
//   - per connection: a cut (both sides closed at once, no shutdown
//     handshake) once the bytes it carried in both directions reach a
//     number uniform in [cut_after_min_bytes, cut_after_max_bytes];
//   - per chunk: a stall of that direction (nothing more is forwarded that
//     way, and nothing read, until the stall ends);
//   - per accepted connection: a refusal window, during which every new
//     connection is closed as soon as it is accepted;
// and on demand: CutAllNow(), StallNow(), RefuseNewConnectionsFor().
// Bytes are forwarded in order and unchanged: a fault delays or ends a
// stream, it never corrupts one. The draw order depends on the order the
// kernel delivers events, so a seed makes a run's fault mix reproducible,
// not its exact schedule.
//
// Thread-safety: the proxy runs on its own thread; every public method may
// be called from any thread. The destructor closes every connection and
// joins the thread.
#ifndef FEDLEARN_TESTS_TEST_UTIL_TCP_FAULT_PROXY_H_
#define FEDLEARN_TESTS_TEST_UTIL_TCP_FAULT_PROXY_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace fedlearn::testing_util {

class TcpFaultProxy {
 public:
  struct Options {
    int target_port = 0;  // REQUIRED: 127.0.0.1:target_port
    uint32_t seed = 1;
    size_t chunk_bytes = 16 * 1024;  // the largest read forwarded at once
    // Delays: each chunk with this probability, by [min, max] ms.
    double delay_probability = 0;
    int min_delay_ms = 0;
    int max_delay_ms = 0;
    // Cuts: each connection with this probability, after [min, max] bytes.
    double cut_probability = 0;
    uint64_t cut_after_min_bytes = 0;
    uint64_t cut_after_max_bytes = 0;
    // Stalls: each chunk with this probability stalls its direction.
    double stall_probability = 0;
    int stall_ms = 0;
    // Refusals: each accepted connection with this probability opens a
    // window (refusing that connection too).
    double refuse_probability = 0;
    int refuse_window_ms = 0;
  };

  // What the proxy did so far (monotone).
  struct Counters {
    uint64_t connections = 0;  // accepted and forwarded
    uint64_t refused = 0;      // accepted and closed at once
    uint64_t cuts = 0;         // connections cut (random or CutAllNow)
    uint64_t delays = 0;       // chunks delayed
    uint64_t stalls = 0;       // directions stalled (random or StallNow)
    uint64_t bytes_to_target = 0;
    uint64_t bytes_to_client = 0;
  };
  enum class Direction { kToTarget, kToClient, kBoth };

  // Listens and starts the proxy's thread.
  static absl::StatusOr<std::unique_ptr<TcpFaultProxy>> Start(Options options);
  ~TcpFaultProxy();
  TcpFaultProxy(const TcpFaultProxy&) = delete;
  TcpFaultProxy& operator=(const TcpFaultProxy&) = delete;

  int port() const { return port_; }
  // "127.0.0.1:<port>".
  std::string address() const;

  // Random faults on (the default) or off; on-demand faults work either way.
  void SetRandomFaults(bool enabled);
  // Closes every live connection; returns how many it closed.
  int CutAllNow();
  // Stalls `direction` of every live connection for `duration`.
  void StallNow(std::chrono::milliseconds duration,
                Direction direction = Direction::kBoth);
  // Closes each new connection at accept for `duration`.
  void RefuseNewConnectionsFor(std::chrono::milliseconds duration);
  // Connections open now.
  int live_connections() const;

  Counters counters() const;
  // One line: "connections=.. refused=.. cuts=.. delays=.. stalls=.. ...".
  std::string DescribeCounters() const;

 private:
  struct Impl;
  explicit TcpFaultProxy(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace fedlearn::testing_util

#endif  // FEDLEARN_TESTS_TEST_UTIL_TCP_FAULT_PROXY_H_
