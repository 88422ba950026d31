// Drives a ClientSession from a Boost.Asio event loop.
//
// Blocking work (RPCs, training) runs on a worker executor; the io_context
// only schedules: the next step after a poll interval, exponential backoff
// with jitter while the coordinator is unreachable, heartbeats while a long
// training runs. Stop() (wired to SIGINT/SIGTERM by the binary) abandons the
// current task: training is cancelled between batches and nothing partial is
// ever uploaded; an in-flight RPC is cancelled.
#ifndef FEDLEARN_CLIENT_CLIENT_DAEMON_H_
#define FEDLEARN_CLIENT_CLIENT_DAEMON_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <random>

#include "boost/asio/io_context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/thread_pool.hpp"
#include "client/client_session.h"

namespace fedlearn {

struct BackoffPolicy {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30'000};
  // Give up after this many consecutive failures (0 = never).
  int max_consecutive_failures = 0;

  // "Equal jitter": half the exponential delay fixed, half uniform random, so
  // a fleet of clients does not reconnect in lockstep after an outage.
  std::chrono::milliseconds Delay(int failures, std::mt19937_64& rng) const;
};

class ClientDaemon {
 public:
  struct Options {
    BackoffPolicy backoff;
    std::chrono::milliseconds default_poll{500};
    std::chrono::milliseconds heartbeat_interval{10'000};
    uint64_t jitter_seed = std::random_device{}();
  };

  ClientDaemon(boost::asio::io_context& io, boost::asio::thread_pool& workers,
               ClientSession* session, CoordinatorTransport* transport,
               Options options);

  ~ClientDaemon();
  ClientDaemon(const ClientDaemon&) = delete;
  ClientDaemon& operator=(const ClientDaemon&) = delete;

  // Schedules the first step. `on_done` runs on the io_context when the run
  // finished, the daemon was stopped, or it gave up.
  void Start(std::function<void(const absl::Status&)> on_done);
  // Thread-safe; idempotent.
  void Stop();

 private:
  void ScheduleStep(std::chrono::milliseconds delay);
  void OnStepDone(ClientSession::StepResult result);
  void ScheduleHeartbeat();
  void Finish(absl::Status outcome);

  boost::asio::io_context& io_;
  boost::asio::thread_pool& workers_;
  ClientSession* const session_;
  CoordinatorTransport* const transport_;
  const Options options_;
  boost::asio::steady_timer step_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  boost::asio::thread_pool heartbeat_pool_{1};
  std::mt19937_64 rng_;
  std::atomic<bool> cancel_{false};
  bool step_running_ = false;
  bool done_ = false;
  int consecutive_failures_ = 0;
  std::function<void(const absl::Status&)> on_done_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_CLIENT_DAEMON_H_
