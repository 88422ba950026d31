#include "apps/simulation/virtual_clients.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/progress_bar.h"
#include "common/util/status_macros.h"

namespace fedlearn {

VirtualClients::VirtualClients(VirtualClientsOptions options)
    : options_(std::move(options)),
      slots_(static_cast<int>(std::max<size_t>(options_.training_slots, 1))),
      compute_workers_(std::max<size_t>(
          std::max<size_t>(options_.training_slots, 1),
          std::min<size_t>(options_.range.size(), kComputeThreads))) {}

absl::StatusOr<std::unique_ptr<VirtualClients>> VirtualClients::Start(
    VirtualClientsOptions options,
    std::vector<std::unique_ptr<RunPreparer>> preparers) {
  std::unique_ptr<VirtualClients> clients(
      new VirtualClients(std::move(options)));
  clients->preparers_ = std::move(preparers);
  const ClientRange range = clients->options_.range;
  if (static_cast<int>(clients->preparers_.size()) != range.size()) {
    return absl::InternalError("one site preparer per virtual client needed");
  }
  ProgressBar bar("starting virtual clients", range.size());
  for (int k = 0; k < range.size(); ++k) {
    RETURN_IF_ERROR(
        clients->AddClient(range.begin + k, clients->preparers_[k].get()));
    bar.Advance();
  }
  bar.Finish();
  for (auto& daemon : clients->daemons_) {
    daemon->Start(
        [c = clients.get()](const absl::Status& s) { c->OnClientDone(s); });
  }
  clients->work_guard_ = std::make_unique<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
      clients->io_.get_executor());
  clients->io_thread_ = std::thread([c = clients.get()] { c->io_.run(); });
  return clients;
}

absl::Status VirtualClients::AddClient(int i, RunPreparer* preparer) {
  GrpcTransportOptions transport_options;
  transport_options.target = options_.target;
  transport_options.server_name_override = options_.server_name;
  transport_options.claimed_client_id = SimulatedClientName(i);
  transport_options.fetch_wait = options_.fetch_wait;
  transport_options.tls =
      options_.insecure ? TlsConfig{true, "", "", ""} : options_.identity(i);
  ASSIGN_OR_RETURN(std::unique_ptr<GrpcCoordinatorTransport> transport,
                   GrpcCoordinatorTransport::Create(transport_options));
  transports_.push_back(std::move(transport));
  ClientSession::Options session_options;
  session_options.identity = transport_options.tls;
  session_options.simulation_rounding_seed = options_.rounding_seed;
  sessions_.push_back(std::make_unique<ClientSession>(
      transports_.back().get(), preparer, &slots_, session_options));
  ClientDaemon::Options daemon_options;
  daemon_options.default_poll = std::chrono::milliseconds(100);
  daemon_options.jitter_seed = options_.jitter_seed + i;
  daemon_options.backoff = options_.backoff;
  daemons_.push_back(std::make_unique<ClientDaemon>(
      io_, rpc_workers_, compute_workers_, sessions_.back().get(),
      transports_.back().get(), daemon_options));
  return absl::OkStatus();
}

void VirtualClients::OnClientDone(const absl::Status& status) {
  int done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done = ++done_;
    if (!status.ok() && first_error_.ok()) first_error_ = status;
  }
  done_cv_.notify_all();
  if (options_.on_client_done) {
    options_.on_client_done(done, options_.range.size());
  }
}

absl::Status VirtualClients::Wait(const std::atomic<bool>& stop) {
  std::unique_lock<std::mutex> lock(mu_);
  while (done_ < static_cast<int>(daemons_.size())) {
    if (stop.load()) return absl::CancelledError("stopped");
    // The stop flag has no notifier of its own: look at it every 100 ms.
    done_cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  return first_error_;
}

void VirtualClients::Stop() {
  std::call_once(stopped_, [this] {
    for (auto& daemon : daemons_) daemon->Stop();
    work_guard_.reset();
    if (io_thread_.joinable()) io_thread_.join();
    rpc_workers_.join();
    compute_workers_.join();
    daemons_.clear();
  });
}

VirtualClients::~VirtualClients() { Stop(); }

}  // namespace fedlearn
