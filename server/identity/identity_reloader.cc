#include "server/identity/identity_reloader.h"

#include <atomic>
#include <csignal>

#include "common/util/log.h"

namespace fedlearn {
namespace {

// Lock-free, so setting it is async-signal-safe.
std::atomic<bool> reload_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnSighup(int) { RequestIdentityReload(); }

}  // namespace

void RequestIdentityReload() { reload_requested.store(true); }

void InstallSighupIdentityReload() { std::signal(SIGHUP, OnSighup); }

IdentityReloader::IdentityReloader(ClientAuthorizer* authorizer, EvictFn evict,
                                   Duration interval)
    : authorizer_(authorizer), evict_(std::move(evict)), interval_(interval) {}

IdentityReloader::~IdentityReloader() { Stop(); }

std::vector<Eviction> IdentityReloader::PollOnce() {
  const bool forced = reload_requested.exchange(false);
  if (forced) {
    spdlog::info("reload requested: re-reading the enrolment file and CRL");
  }
  std::vector<Eviction> evictions = authorizer_->Reload(forced);
  for (const Eviction& eviction : evictions) evict_(eviction);
  return evictions;
}

void IdentityReloader::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      PollOnce();
      lock.lock();
    }
  });
}

void IdentityReloader::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace fedlearn
