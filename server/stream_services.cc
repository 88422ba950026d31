#include "server/stream_services.h"

#include "common/util/escape.h"
#include "common/util/log.h"

namespace fedlearn {

void LogStreamEnd(std::string_view what, const std::string& id,
                  const absl::Status& status) {
  if (status.ok()) return;
  const std::string who = id.empty() ? std::string("(unidentified)") : id;
  const std::string why = EscapeUntrusted(status.message(), 300);
  if (absl::IsResourceExhausted(status) || absl::IsCancelled(status) ||
      absl::IsUnavailable(status)) {
    spdlog::debug("{} of {} ended: {}", what, who, why);
  } else {
    spdlog::warn("{} of {} ended: {}", what, who, why);
  }
}

}  // namespace fedlearn
