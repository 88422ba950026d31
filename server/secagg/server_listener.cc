#include "server/secagg/server_listener.h"

#include "common/util/escape.h"
#include "common/util/log.h"

namespace fedlearn {

void LoggingSecAggServerListener::OnPhaseEntered(SecAggServerPhase phase,
                                                 SecAggServerPhase previous) {
  spdlog::debug("secagg: {} -> {}", SecAggServerPhaseName(previous),
                SecAggServerPhaseName(phase));
}

void LoggingSecAggServerListener::OnClientExcluded(
    const std::string& client_id) {
  spdlog::info(
      "secagg: excluding '{}': too few of its neighbours advertised keys",
      client_id);
}

void LoggingSecAggServerListener::OnClientAborted(const std::string& client_id,
                                                  SecAggServerPhase phase,
                                                  std::string_view reason) {
  spdlog::info(
      "secagg: client {} aborted in {}: {}", client_id,
      SecAggServerPhaseName(phase),
      EscapeUntrusted(absl::string_view(reason.data(), reason.size()), 300));
}

void LoggingSecAggServerListener::OnRoundAborted(std::string_view reason) {
  spdlog::warn(
      "secagg round {} aborted: {}", round_,
      EscapeUntrusted(absl::string_view(reason.data(), reason.size()), 500));
}

}  // namespace fedlearn
