#include "client/secagg/client_listener.h"

#include "common/util/log.h"

namespace fedlearn {

void LoggingSecAggClientListener::OnAborted(const std::string& client_id,
                                            std::string_view phase,
                                            const absl::Status& reason) {
  spdlog::warn("secagg client {} aborts in {}: {}", client_id, phase,
               reason.message());
}

}  // namespace fedlearn
