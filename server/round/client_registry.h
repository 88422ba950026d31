// The run's membership: which clients registered, with which session, how
// many examples they declared, when they were last heard from, and which
// left (permanently, with a reason). It also holds the run contract every
// client must accept before it registers.
//
// Guarantees: a second process with the same identity is refused while the
// first session was heard from within `session_takeover` (after it, the new
// session takes over: a restarted client); a Leave naming another live
// session is refused; a Register brings a departed client back. Live
// clients are returned sorted, so seeded sampling is reproducible.
// Refuses: an empty id, a contract digest of another contract, more than
// `max_registered_clients` clients.
//
// Thread-compatible: the round engine calls it under its own lock.
#ifndef FEDLEARN_SERVER_ROUND_CLIENT_REGISTRY_H_
#define FEDLEARN_SERVER_ROUND_CLIENT_REGISTRY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/util/clock.h"
#include "server/round/round_types.h"

namespace fedlearn {

class ClientRegistry {
 public:
  struct Options {
    std::string run_id;
    size_t max_registered_clients = 100'000;
    // A client not heard from for this long is not live.
    Duration client_liveness{std::chrono::minutes(2)};
    Duration session_takeover{std::chrono::seconds(15)};
  };

  // REQUIRES: `clock` outlives the registry.
  ClientRegistry(Options options, ContractOffer contract, const Clock* clock);

  const ContractOffer& contract() const { return contract_; }

  // `contract_digest` must name the run's contract (empty: not checked).
  // AlreadyExists while another session of `client_id` is live.
  absl::Status Register(const std::string& client_id, uint64_t num_examples,
                        const std::string& contract_digest,
                        const std::string& session_id);
  // Marks the client as left; a permanent departure is recorded with its
  // `reason` (client-supplied: escaped and truncated here).
  // FailedPrecondition if `session_id` is not the client's live session.
  absl::Status Leave(const std::string& client_id,
                     const std::string& session_id, bool permanent,
                     const std::string& reason);

  // Clients that ever registered in this process (live, silent or left).
  size_t size() const { return clients_.size(); }
  bool Contains(const std::string& client_id) const {
    return clients_.count(client_id) > 0;
  }
  // Records that the client was heard from now (no-op if unknown).
  void Touch(const std::string& client_id);
  // Touch(), or NotFound if the client never registered.
  absl::Status TouchKnown(const std::string& client_id);

  // Registered clients heard from within client_liveness and not left,
  // sorted.
  std::vector<std::string> LiveClients() const;
  // Registered clients missing from `live` (sorted), with why ("failed:
  // ...", "left", "silent for N s"), at most ten named.
  std::string DescribeAbsent(const std::vector<std::string>& live) const;
  // The example count `client_id` declared at registration (0 if unknown).
  uint64_t DeclaredExamples(const std::string& client_id) const;
  // Every client that left permanently, latest reason per client, by id.
  std::vector<DepartedClient> departures() const;

 private:
  struct ClientRecord {
    TimePoint last_seen;
    uint64_t num_examples = 0;
    std::string session_id;
    bool left = false;  // Leave() since the last Register()
  };

  // AlreadyExists if another live session holds `client_id`'s identity.
  absl::Status CheckSessionTakeover(const std::string& client_id,
                                    const ClientRecord& record,
                                    const std::string& session_id) const;

  const Options options_;
  const ContractOffer contract_;
  const Clock* const clock_;
  std::map<std::string, ClientRecord> clients_;
  std::map<std::string, DepartedClient> departures_;  // permanent ones
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_CLIENT_REGISTRY_H_
