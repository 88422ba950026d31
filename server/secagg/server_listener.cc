#include "server/secagg/server_listener.h"

#include "absl/strings/str_join.h"
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
      EscapeUntrusted(client_id, 100));
}

void LoggingSecAggServerListener::OnClientAborted(const std::string& client_id,
                                                  SecAggServerPhase phase,
                                                  std::string_view reason) {
  spdlog::info(
      "secagg: client {} aborted in {}: {}", EscapeUntrusted(client_id, 100),
      SecAggServerPhaseName(phase),
      EscapeUntrusted(absl::string_view(reason.data(), reason.size()), 300));
}

void LoggingSecAggServerListener::OnAdvertisementRejected(
    const std::string& client_id, std::string_view reason) {
  spdlog::warn(
      "secagg round {}: dropping the key advertisement of '{}': {}", round_,
      EscapeUntrusted(client_id, 100),
      EscapeUntrusted(absl::string_view(reason.data(), reason.size()), 300));
}

void LoggingSecAggServerListener::OnBlameLodged(
    const std::string& accuser, const std::vector<std::string>& blamed,
    int ignored) {
  spdlog::warn(
      "secagg round {}: '{}' blames [{}] for key shares it could not decrypt "
      "({} further entries ignored)",
      round_, EscapeUntrusted(accuser, 100),
      EscapeUntrusted(absl::StrJoin(blamed, ","), 500), ignored);
}

void LoggingSecAggServerListener::OnRoundAborted(std::string_view reason) {
  spdlog::warn(
      "secagg round {} aborted: {}", round_,
      EscapeUntrusted(absl::string_view(reason.data(), reason.size()), 500));
}

}  // namespace fedlearn
