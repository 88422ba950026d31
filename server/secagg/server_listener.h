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
// what the client sent: untrusted text.
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
};

// Logs through spdlog: transitions at debug, exclusions and client aborts at
// info, a round abort as a warning naming `round`. Dropouts are not logged.
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

 private:
  const uint64_t round_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_SERVER_LISTENER_H_
