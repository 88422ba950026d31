// Keeps a ClientAuthorizer's enrolment file and CRL current while the
// coordinator runs: a background thread checks them every
// `interval` (mtime and size, one stat each) and reloads at once on SIGHUP,
// handing every live identity a reload disqualified to `evict` (the
// coordinator ends its session: RoundEngine::Evict).
//
// SIGHUP only sets a flag (RequestIdentityReload is async-signal-safe); the
// reload itself runs on the reloader's thread. Tests drive PollOnce()
// directly, without the thread.
// Thread-safety: Start/Stop from one thread; PollOnce from one thread at a
// time; RequestIdentityReload from anywhere, including a signal handler.
#ifndef FEDLEARN_SERVER_IDENTITY_IDENTITY_RELOADER_H_
#define FEDLEARN_SERVER_IDENTITY_IDENTITY_RELOADER_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/util/clock.h"
#include "server/identity/client_authorizer.h"

namespace fedlearn {

// Asks every IdentityReloader to reload at its next check (SIGHUP).
void RequestIdentityReload();
// Installs RequestIdentityReload as the process's SIGHUP handler.
void InstallSighupIdentityReload();

class IdentityReloader {
 public:
  using EvictFn = std::function<void(const Eviction&)>;

  // REQUIRES: `authorizer` outlives the reloader.
  IdentityReloader(ClientAuthorizer* authorizer, EvictFn evict,
                   Duration interval);
  ~IdentityReloader();  // Stop()
  IdentityReloader(const IdentityReloader&) = delete;
  IdentityReloader& operator=(const IdentityReloader&) = delete;

  void Start();
  void Stop();

  // One check: reloads what changed (everything if a reload was requested)
  // and evicts. Returns the evictions made.
  std::vector<Eviction> PollOnce();

 private:
  ClientAuthorizer* const authorizer_;
  const EvictFn evict_;
  const Duration interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_IDENTITY_IDENTITY_RELOADER_H_
