#include "client/client_daemon.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "common/util/log.h"
#include "common/util/status_class.h"

namespace fedlearn {

std::chrono::milliseconds BackoffPolicy::Delay(int failures,
                                               std::mt19937_64& rng,
                                               bool in_run) const {
  const int shift = std::clamp(failures - 1, 0, 20);
  const int64_t cap = in_run ? std::min(max, in_run_max).count() : max.count();
  const int64_t exp = std::min<int64_t>(cap, initial.count() << shift);
  std::uniform_int_distribution<int64_t> jitter(0, exp / 2);
  return std::chrono::milliseconds(exp - exp / 2 + jitter(rng));
}

std::chrono::milliseconds BackoffPolicy::NominalWait(int failures) const {
  std::chrono::milliseconds total(0);
  for (int f = 1; f < failures; ++f) {
    const int shift = std::clamp(f - 1, 0, 20);
    total += std::chrono::milliseconds(
        std::min<int64_t>(max.count(), initial.count() << shift));
  }
  return total;
}

ClientDaemon::ClientDaemon(boost::asio::io_context& io,
                           boost::asio::thread_pool& rpc_workers,
                           boost::asio::thread_pool& compute_workers,
                           ClientSession* session,
                           CoordinatorTransport* transport, Options options)
    : io_(io),
      rpc_workers_(rpc_workers),
      compute_workers_(compute_workers),
      session_(session),
      transport_(transport),
      options_(options),
      step_timer_(io),
      heartbeat_timer_(io),
      rng_(options.jitter_seed) {}

ClientDaemon::~ClientDaemon() {
  cancel_ = true;
  std::lock_guard<std::mutex> lock(callback_guard_->mu);
  callback_guard_->alive = false;
}

void ClientDaemon::Start(std::function<void(const absl::Status&)> on_done) {
  on_done_ = std::move(on_done);
  boost::asio::post(io_,
                    [this] { ScheduleStep(std::chrono::milliseconds(0)); });
}

void ClientDaemon::Stop() {
  if (cancel_.exchange(true)) return;
  transport_->CancelInFlight();
  boost::asio::post(io_, [this] {
    step_timer_.cancel();
    heartbeat_timer_.cancel();
    // If a step is running on a worker, its completion finishes us.
    if (!step_running_) Finish(absl::CancelledError("stopped"));
  });
}

void ClientDaemon::ScheduleStep(std::chrono::milliseconds delay) {
  if (done_ || cancel_.load()) return;
  step_timer_.expires_after(delay);
  step_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || done_ || cancel_.load()) return;
    step_running_ = true;
    ScheduleHeartbeat();
    if (session_->NextStepFetches() && StartWaitingFetch()) return;
    if (StartWaitingSecAggPoll()) return;
    boost::asio::thread_pool& pool =
        session_->NextStepComputes() ? compute_workers_ : rpc_workers_;
    boost::asio::post(pool, [this] {
      ClientSession::StepResult result = session_->Step(cancel_);
      boost::asio::post(io_, [this, result = std::move(result)]() mutable {
        OnStepDone(std::move(result));
      });
    });
  });
}

bool ClientDaemon::StartWaitingFetch() {
  // No thread waits with the coordinator: the reply's handling (decoding
  // checks, the refusal rules) runs on an RPC worker as any step.
  return transport_->FetchTaskAsync(
      session_->run_id(), session_->last_round(),
      [this, guard = callback_guard_](absl::StatusOr<FetchReply> reply) {
        std::lock_guard<std::mutex> lock(guard->mu);
        if (!guard->alive) return;  // the daemon is gone: nobody to tell
        boost::asio::post(rpc_workers_, [this,
                                         reply = std::move(reply)]() mutable {
          ClientSession::StepResult result =
              session_->CompleteFetch(std::move(reply));
          boost::asio::post(io_, [this, result = std::move(result)]() mutable {
            OnStepDone(std::move(result));
          });
        });
      });
}

bool ClientDaemon::StartWaitingSecAggPoll() {
  std::optional<ClientSession::SecAggPoll> poll = session_->NextSecAggPoll();
  if (!poll) return false;
  // As StartWaitingFetch: the reply is handled on an RPC worker, and only
  // while this daemon lives.
  return transport_->SecAggPollAsync(
      poll->run_id, poll->round, poll->wait,
      [this,
       guard = callback_guard_](absl::StatusOr<SecAggExchangeReply> reply) {
        std::lock_guard<std::mutex> lock(guard->mu);
        if (!guard->alive) return;  // the daemon is gone: nobody to tell
        boost::asio::post(rpc_workers_, [this,
                                         reply = std::move(reply)]() mutable {
          ClientSession::StepResult result =
              session_->CompleteSecAggPoll(std::move(reply));
          boost::asio::post(io_, [this, result = std::move(result)]() mutable {
            OnStepDone(std::move(result));
          });
        });
      });
}

void ClientDaemon::ScheduleHeartbeat() {
  heartbeat_timer_.expires_after(options_.heartbeat_interval);
  heartbeat_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !step_running_ || cancel_.load()) return;
    // Only a long training needs it: polling keeps an idle client alive.
    if (session_->training() && !heartbeat_in_flight_->exchange(true)) {
      boost::asio::post(rpc_workers_, [transport = transport_,
                                       in_flight = heartbeat_in_flight_,
                                       run_id = session_->run_id()] {
        absl::StatusOr<bool> r = transport->Heartbeat(run_id, "training");
        if (!r.ok()) {
          spdlog::debug("heartbeat failed: {}", r.status().message());
        }
        *in_flight = false;
      });
    }
    ScheduleHeartbeat();
  });
}

void ClientDaemon::OnStepDone(ClientSession::StepResult result) {
  step_running_ = false;
  heartbeat_timer_.cancel();
  if (cancel_.load()) {
    Finish(absl::CancelledError("stopped"));
    return;
  }
  using Kind = ClientSession::StepKind;
  switch (result.kind) {
    case Kind::kRegistered:
      in_run_ = true;
      [[fallthrough]];
    case Kind::kPrepared:
    case Kind::kTaskReceived:
    case Kind::kUploading:
    case Kind::kTrained:
      ResetFailures();
      ScheduleStep(std::chrono::milliseconds(0));
      return;
    case Kind::kIdle:
      ResetFailures();
      // A long poll that waited its time out may ask again at once.
      ScheduleStep(result.waited ? std::chrono::milliseconds(0)
                   : result.retry_after_ms > 0
                       ? std::chrono::milliseconds(result.retry_after_ms)
                       : options_.default_poll);
      return;
    case Kind::kRunFinished:
      if (result.status.ok()) {
        spdlog::info("coordinator reports the run finished");
      }
      Finish(result.status);
      return;
    case Kind::kFailed:
      OnFailure(result.status);
      return;
  }
}

void ClientDaemon::OnFailure(const absl::Status& status) {
  if (IsPermanent(status)) {
    // Retrying cannot help (the site does not meet the run's contract, or
    // the run is below its privacy floor): stop with the reason.
    Finish(status);
    return;
  }
  if (absl::IsNotFound(status)) {
    // The coordinator answered but no longer knows us (it restarted):
    // register again right away rather than backing off.
    spdlog::info("{}; registering again", status.message());
    ResetFailures();
    ScheduleStep(std::chrono::milliseconds(0));
    return;
  }
  ++consecutive_failures_;
  const int limit = options_.backoff.max_consecutive_failures;
  // In a run the attempts come faster (in_run_max): give up only after as
  // long as `limit` attempts of the normal schedule would have taken.
  if (limit > 0 && consecutive_failures_ >= limit &&
      (!in_run_ || waited_ >= options_.backoff.NominalWait(limit))) {
    Finish(absl::UnavailableError(
        absl::StrCat("giving up after ", consecutive_failures_,
                     " consecutive failures; last: ", status.message())));
    return;
  }
  const std::chrono::milliseconds delay =
      options_.backoff.Delay(consecutive_failures_, rng_, in_run_);
  waited_ += delay;
  // A busy coordinator asking for a retry is flow control, not trouble:
  // worth a warning only when it keeps happening.
  const auto level =
      absl::IsResourceExhausted(status) && consecutive_failures_ == 1
          ? spdlog::level::info
          : spdlog::level::warn;
  spdlog::log(level, "{} (retry {} in {} ms)", status.message(),
              consecutive_failures_, delay.count());
  if (options_.on_backoff) options_.on_backoff(delay);
  ScheduleStep(delay);
}

void ClientDaemon::ResetFailures() {
  consecutive_failures_ = 0;
  waited_ = std::chrono::milliseconds(0);
}

void ClientDaemon::Finish(absl::Status outcome) {
  if (done_) return;
  done_ = true;
  step_timer_.cancel();
  heartbeat_timer_.cancel();
  if (on_done_) on_done_(outcome);
}

}  // namespace fedlearn
