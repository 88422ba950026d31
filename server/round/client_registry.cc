#include "server/round/client_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/util/escape.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "server/round/round_errors.h"

namespace fedlearn {

ClientRegistry::ClientRegistry(Options options, ContractOffer contract,
                               const Clock* clock)
    : options_(std::move(options)),
      contract_(std::move(contract)),
      clock_(clock) {}

absl::Status ClientRegistry::CheckSessionTakeover(
    const std::string& client_id, const ClientRecord& record,
    const std::string& session_id) const {
  if (session_id.empty() || record.session_id.empty() ||
      record.session_id == session_id || record.left ||
      clock_->Now() - record.last_seen >= options_.session_takeover) {
    return absl::OkStatus();
  }
  const double ago =
      std::chrono::duration<double>(clock_->Now() - record.last_seen).count();
  spdlog::warn(
      "refused a second session for client {}: another process with the "
      "same identity was active {:.1f} s ago",
      client_id, ago);
  return absl::AlreadyExistsError(absl::StrCat(
      "another process holding the identity '", client_id,
      "' is connected (last heard from ", static_cast<int>(ago),
      " s ago); refusing a second session. Each site needs its own "
      "certificate; a restarted client is admitted once the old session "
      "has been silent for ",
      std::chrono::duration_cast<std::chrono::seconds>(
          options_.session_takeover)
          .count(),
      " s"));
}

absl::Status ClientRegistry::Register(const std::string& client_id,
                                      uint64_t num_examples,
                                      const std::string& contract_digest,
                                      const std::string& session_id) {
  if (client_id.empty()) {
    return absl::InvalidArgumentError("client id is empty");
  }
  if (!contract_digest.empty() && contract_digest != contract_.digest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this client prepared another run contract (",
        EscapeUntrusted(contract_digest, 16), "), the coordinator runs '",
        options_.run_id, "' with contract ", contract_.digest.substr(0, 16),
        "...: fetch the contract again"));
  }
  auto it = clients_.find(client_id);
  if (it != clients_.end()) {
    RETURN_IF_ERROR(CheckSessionTakeover(client_id, it->second, session_id));
  } else {
    if (clients_.size() >= options_.max_registered_clients) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "coordinator already has ", clients_.size(), " registered clients"));
    }
    it = clients_.emplace(client_id, ClientRecord{}).first;
    spdlog::info("client {} registered ({} registered)", client_id,
                 clients_.size());
  }
  if (it->second.left) {
    spdlog::info("client {} rejoined the run", client_id);
  }
  it->second.last_seen = clock_->Now();
  it->second.num_examples = num_examples;
  it->second.session_id = session_id;
  it->second.left = false;
  departures_.erase(client_id);
  return absl::OkStatus();
}

absl::Status ClientRegistry::Leave(const std::string& client_id,
                                   const std::string& session_id,
                                   bool permanent, const std::string& reason) {
  auto it = clients_.find(client_id);
  if (it != clients_.end() && !session_id.empty() &&
      !it->second.session_id.empty() && it->second.session_id != session_id) {
    // Another process's session: it must not end the live one.
    return absl::FailedPreconditionError(absl::StrCat(
        "client '", client_id, "' has another live session; not leaving"));
  }
  const std::string why =
      reason.empty() ? "no reason given" : EscapeUntrusted(reason, 300);
  if (it != clients_.end()) it->second.left = true;
  if (permanent) {
    departures_[client_id] = DepartedClient{client_id, true, why};
    spdlog::warn("client {} cannot take part in run {}: {}", client_id,
                 options_.run_id, why);
  } else {
    spdlog::info("client {} left the run: {}", client_id, why);
  }
  return absl::OkStatus();
}

void ClientRegistry::Touch(const std::string& client_id) {
  auto it = clients_.find(client_id);
  if (it != clients_.end()) it->second.last_seen = clock_->Now();
}

absl::Status ClientRegistry::TouchKnown(const std::string& client_id) {
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return UnknownClientError(client_id);
  it->second.last_seen = clock_->Now();
  return absl::OkStatus();
}

std::vector<std::string> ClientRegistry::LiveClients() const {
  std::vector<std::string> live;
  const TimePoint now = clock_->Now();
  for (const auto& [id, record] : clients_) {
    if (!record.left && now - record.last_seen <= options_.client_liveness) {
      live.push_back(id);
    }
  }
  return live;  // std::map order: sorted, so sampling is reproducible
}

std::string ClientRegistry::DescribeAbsent(
    const std::vector<std::string>& live) const {
  std::vector<std::string> absent;
  const TimePoint now = clock_->Now();
  for (const auto& [id, record] : clients_) {
    if (std::binary_search(live.begin(), live.end(), id)) continue;
    auto d = departures_.find(id);
    if (d != departures_.end()) {
      absent.push_back(absl::StrCat(id, " (failed: ", d->second.reason, ")"));
    } else if (record.left) {
      absent.push_back(absl::StrCat(id, " (left)"));
    } else {
      absent.push_back(absl::StrCat(
          id, " (silent for ",
          static_cast<int64_t>(
              std::chrono::duration<double>(now - record.last_seen).count()),
          " s)"));
    }
  }
  return DescribeClientList(absent);
}

uint64_t ClientRegistry::DeclaredExamples(const std::string& client_id) const {
  auto it = clients_.find(client_id);
  return it == clients_.end() ? 0 : it->second.num_examples;
}

std::vector<DepartedClient> ClientRegistry::departures() const {
  std::vector<DepartedClient> out;
  for (const auto& [id, d] : departures_) out.push_back(d);
  return out;
}

}  // namespace fedlearn
