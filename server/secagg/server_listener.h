// What the secure-aggregation server reports while a round runs: phases
// closing (with who dropped out) and opening, clients excluded or aborting,
// and the round aborting, with reasons. The facade (secagg_server.h) and the
// states call the listener instead of logging, so every event can be
// observed in a test; the default listener logs through spdlog exactly what
// the server always logged.
//
// Calls are synchronous, on the thread that drives the server (the caller
// serializes access to a SecAggServer), never concurrent for one round.
// Listeners must not call back into the server. A client's abort reason is
// what the client sent: untrusted text. Client ids handed to a listener are
// cohort ids (chosen by the coordinator), never bytes a client made up.
#ifndef FEDLEARN_SERVER_SECAGG_SERVER_LISTENER_H_
#define FEDLEARN_SERVER_SECAGG_SERVER_LISTENER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/secagg/server_phase.h"

namespace fedlearn {

class SecAggServerListener {
 public:
  virtual ~SecAggServerListener() = default;
  // AdvancePhase() closed `phase`; `dropouts` (sorted ids) were expected in
  // it and neither answered nor aborted. Called before the next phase is
  // built, so a failing phase reports its dropouts before the round aborts.
  virtual void OnPhaseClosed(SecAggServerPhase phase,
                             const std::vector<std::string>& dropouts) = 0;
  // The round moved from `previous` to `phase` (kCompleted at the end). The
  // round starts in kAdvertiseKeys, which is not announced.
  virtual void OnPhaseEntered(SecAggServerPhase phase,
                              SecAggServerPhase previous) = 0;
  // Closing AdvertiseKeys left `client_id` out of U1: too few of its
  // neighbours advertised keys for its secrets to be rebuilt.
  virtual void OnClientExcluded(const std::string& client_id) = 0;
  // `client_id` sent an Abort in `phase`; it is a dropout from now on.
  virtual void OnClientAborted(const std::string& client_id,
                               SecAggServerPhase phase,
                               std::string_view reason) = 0;
  // The round aborted (a phase could not close, or Abort() from outside).
  virtual void OnRoundAborted(std::string_view reason) = 0;
  // The server's own check of `client_id`'s AdvertiseKeys failed (its
  // certificate or signature; advertisement_verifier.h): it was not
  // forwarded and the client is a dropout of AdvertiseKeys. `reason` is the
  // verifier's wording (it may quote certificate names, escaped).
  virtual void OnAdvertisementRejected(const std::string& client_id,
                                       std::string_view reason) {}
  // `accuser`'s Abort blamed `blamed` (sorted cohort ids, each a neighbour
  // that was sent key shares for it) for key shares that did not decrypt or
  // authenticate. `ignored` counts entries of its list that were not such
  // neighbours (non-cohort ids, non-neighbours, itself, repeats, or beyond
  // the bound): dropped unread.
  virtual void OnBlameLodged(const std::string& accuser,
                             const std::vector<std::string>& blamed,
                             int ignored) {}
};

// Logs through spdlog: transitions at debug, exclusions and client aborts at
// info, rejected advertisements, blame and a round abort as warnings naming
// `round`. Dropouts are not logged.
class LoggingSecAggServerListener final : public SecAggServerListener {
 public:
  explicit LoggingSecAggServerListener(uint64_t round) : round_(round) {}
  void OnPhaseClosed(SecAggServerPhase phase,
                     const std::vector<std::string>& dropouts) override {}
  void OnPhaseEntered(SecAggServerPhase phase,
                      SecAggServerPhase previous) override;
  void OnClientExcluded(const std::string& client_id) override;
  void OnClientAborted(const std::string& client_id, SecAggServerPhase phase,
                       std::string_view reason) override;
  void OnRoundAborted(std::string_view reason) override;
  void OnAdvertisementRejected(const std::string& client_id,
                               std::string_view reason) override;
  void OnBlameLodged(const std::string& accuser,
                     const std::vector<std::string>& blamed,
                     int ignored) override;

 private:
  const uint64_t round_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_SERVER_LISTENER_H_
