// Drives a ClientSession from a Boost.Asio event loop.
//
// The io_context only schedules: the next step after the coordinator's
// retry delay (also between the phases of a secure upload, whose steps never
// wait), exponential backoff with jitter after any failure (the client's one
// retry policy: unreachable coordinator, a failed secure-aggregation
// exchange alike), heartbeats while a long training runs. Once this client
// has registered with a run it is part of a run in progress, and a failure
// is most likely the coordinator restarting (it resumes from its
// checkpoint, and a round cannot start until its clients are back): the
// backoff is then capped at `in_run_max` (2 s) instead of `max` (30 s), so
// the client is back within 2 to 3 s of the coordinator (the gRPC channel's
// own reconnect backoff is capped likewise: grpc_coordinator_transport.cc).
// A coordinator that halted the run because it could not write its state (a
// full disk) is such a transient failure too: the daemon keeps retrying,
// since the operator's fix and restart resume the run. The daemon finishes
// with OK only when the coordinator says the run is over and did not fail.
// The steps themselves run on two worker executors: trainings
// (ClientSession::NextStepComputes) on `compute_workers`, every other step
// (RPCs) and the heartbeats on `rpc_workers`. No step sleeps, so many daemons
// share a few threads: the simulation runs 1,000 on a fixed-size pair of pools.
// An idle client's task fetch is a long poll when the transport offers one
// (FetchTaskAsync: the coordinator answers as soon as a round opens, and no
// thread waits for it); after a wait that ran out it asks again at once,
// otherwise it polls after the coordinator's retry_after_ms. A secure
// upload waiting for its next phase long-polls the same way
// (SecAggPollAsync: answered the moment the phase opens).
//
// Stop() (wired to SIGINT/SIGTERM by the binary) abandons the current task:
// training is cancelled between batches and nothing partial is ever
// uploaded; an in-flight RPC is cancelled.
//
// Thread-safety: Start() once; Stop() from any thread. Everything else runs
// on the io_context. REQUIRES: both worker pools have finished the work
// this daemon posted (joined) before it is destroyed; the session and the
// transport outlive that work.
#ifndef FEDLEARN_CLIENT_CLIENT_DAEMON_H_
#define FEDLEARN_CLIENT_CLIENT_DAEMON_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <random>

#include "boost/asio/io_context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/thread_pool.hpp"
#include "client/client_session.h"

namespace fedlearn {

struct BackoffPolicy {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30'000};
  // The cap once the client has registered with the run (see above).
  std::chrono::milliseconds in_run_max{2'000};
  // Give up after this many consecutive failures (0 = never).
  int max_consecutive_failures = 0;

  // "Equal jitter": half the exponential delay fixed, half uniform random, so
  // a fleet of clients does not reconnect in lockstep after an outage.
  // Capped at `max`, or at min(max, in_run_max) when `in_run`.
  std::chrono::milliseconds Delay(int failures, std::mt19937_64& rng,
                                  bool in_run = false) const;
  // The longest total wait of the normal (not in-run) schedule before its
  // `failures`-th failure (the capped exponential delays, no jitter): how
  // long max_consecutive_failures lasts, kept for the faster in-run retries.
  std::chrono::milliseconds NominalWait(int failures) const;
};

class ClientDaemon {
 public:
  struct Options {
    BackoffPolicy backoff;
    std::chrono::milliseconds default_poll{500};
    std::chrono::milliseconds heartbeat_interval{10'000};
    uint64_t jitter_seed = std::random_device{}();
    // Hears each backoff delay the daemon schedules after a failure (tests,
    // diagnostics); runs on the io_context. Null = nobody.
    std::function<void(std::chrono::milliseconds)> on_backoff;
  };

  // The two pools may be the same one when the session never trains while
  // it must heartbeat (tests).
  ClientDaemon(boost::asio::io_context& io,
               boost::asio::thread_pool& rpc_workers,
               boost::asio::thread_pool& compute_workers,
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
  // The fetch step as a long poll (CoordinatorTransport::FetchTaskAsync),
  // holding no thread while the coordinator waits; false if the transport
  // cannot (the step then runs as any other).
  bool StartWaitingFetch();
  // A secure upload's wait for its next phase as a long poll
  // (ClientSession::NextSecAggPoll, CoordinatorTransport::SecAggPollAsync),
  // likewise; false if there is none to make or the transport cannot.
  bool StartWaitingSecAggPoll();
  void OnStepDone(ClientSession::StepResult result);
  // A kFailed step: stop (permanent), register again, or back off.
  void OnFailure(const absl::Status& status);
  void ResetFailures();
  void ScheduleHeartbeat();
  void Finish(absl::Status outcome);

  boost::asio::io_context& io_;
  boost::asio::thread_pool& rpc_workers_;
  boost::asio::thread_pool& compute_workers_;
  ClientSession* const session_;
  CoordinatorTransport* const transport_;
  const Options options_;
  boost::asio::steady_timer step_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  // Set while a heartbeat RPC is queued or running (shared with it, as it
  // may outlive a stopped daemon's timers): one at a time.
  std::shared_ptr<std::atomic<bool>> heartbeat_in_flight_ =
      std::make_shared<std::atomic<bool>>(false);
  // Shared with FetchTaskAsync's (and SecAggPollAsync's) callback, which
  // runs on a gRPC thread and may come after this daemon is gone (a
  // transport that outlives it answers its waiting call when it is
  // destroyed): the callback touches the daemon only while `alive`, under
  // `mu`; the destructor clears it.
  struct CallbackGuard {
    std::mutex mu;
    bool alive = true;
  };
  std::shared_ptr<CallbackGuard> callback_guard_ =
      std::make_shared<CallbackGuard>();
  std::mt19937_64 rng_;
  std::atomic<bool> cancel_{false};
  bool step_running_ = false;
  bool done_ = false;
  int consecutive_failures_ = 0;
  // Registered with the run at least once (and not finished): a run is in
  // progress for this client, so the backoff is capped at in_run_max.
  bool in_run_ = false;
  // The backoff delays scheduled since the last success.
  std::chrono::milliseconds waited_{0};
  std::function<void(const absl::Status&)> on_done_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_CLIENT_DAEMON_H_
