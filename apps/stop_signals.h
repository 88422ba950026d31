// Graceful stop for the coordinator's programs (fedlearn-coordinator,
// fedlearn-sim): SIGINT and SIGTERM are caught from the moment a
// StopSignals is constructed (the first thing main() does, before any other
// thread exists), so a stop at any point -- loading data, binding the port,
// mid-round -- sets stop() instead of killing the process. The program then
// abandons the open attempt (every completed round is already
// checkpointed), closes its server and exits 0.
//
// How: the two signals are blocked in the constructing thread, so every
// thread started after it (gRPC's, LibTorch's) inherits the mask, and one
// watcher thread takes them with sigwait(), so it may log: one line naming
// the signal when it arrives, one per repeated signal. Threads that shared
// libraries start before main() do not block them; a signal the kernel
// hands to one of those runs a handler that only forwards it to the watcher
// (tgkill, async-signal-safe), instead of the default action killing the
// process. The handler is installed with SA_RESTART, so no blocking call is
// turned into an EINTR error.
//
// REQUIRES: constructed in main() before any thread is started; at most one
// instance. Thread-safe: stop() may be read from any thread. Not copyable.
#ifndef FEDLEARN_APPS_STOP_SIGNALS_H_
#define FEDLEARN_APPS_STOP_SIGNALS_H_

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include "common/util/log.h"

namespace fedlearn {

class StopSignals {
 public:
  // `what` names the program's work for the log line ("the run").
  explicit StopSignals(const char* what) : what_(what) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    std::promise<void> ready;
    watcher_ = std::thread([this, &ready] {
      watcher_tid_ = static_cast<pid_t>(syscall(SYS_gettid));
      ready.set_value();
      Watch();
    });
    ready.get_future().wait();
    struct sigaction forward {};
    forward.sa_handler = &StopSignals::Forward;
    forward.sa_flags = SA_RESTART;
    sigfillset(&forward.sa_mask);
    sigaction(SIGINT, &forward, nullptr);
    sigaction(SIGTERM, &forward, nullptr);
  }
  ~StopSignals() {
    watcher_tid_ = 0;  // a late signal on a stray thread is dropped
    exiting_ = true;
    pthread_kill(watcher_.native_handle(), SIGTERM);  // wakes the sigwait
    watcher_.join();
    // The signals stay blocked: one arriving now, as the program exits,
    // stays pending instead of killing it.
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  const std::atomic<bool>& stop() const { return stop_; }
  bool stopped() const { return stop_.load(); }
  // The first signal received (0: none).
  int signal() const { return signal_.load(); }
  static const char* Name(int signo) {
    return signo == SIGTERM ? "SIGTERM" : signo == SIGINT ? "SIGINT" : "signal";
  }

 private:
  // Runs in a thread that does not block the signal: hands it to the
  // watcher, where it is pending until sigwait() takes it.
  static void Forward(int signo) {
    const pid_t tid = watcher_tid_.load();
    if (tid > 0) syscall(SYS_tgkill, getpid(), tid, signo);
  }

  void Watch() {
    while (true) {
      int signo = 0;
      if (sigwait(&set_, &signo) != 0) continue;
      if (exiting_.load()) return;
      if (stop_.load()) {
        spdlog::warn("received {} again: already stopping", Name(signo));
        continue;
      }
      signal_ = signo;
      stop_ = true;
      spdlog::info(
          "received {}: stopping {} gracefully (an open round is abandoned; "
          "completed rounds stay checkpointed)",
          Name(signo), what_);
    }
  }

  const char* const what_;
  sigset_t set_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> exiting_{false};
  std::atomic<int> signal_{0};
  std::thread watcher_;
  static inline std::atomic<pid_t> watcher_tid_{0};
};

}  // namespace fedlearn

#endif  // FEDLEARN_APPS_STOP_SIGNALS_H_
