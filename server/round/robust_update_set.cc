#include "server/round/robust_update_set.h"

namespace fedlearn {

absl::Status CheckUpdateSet(UpdateSet updates) {
  if (updates.empty()) {
    return absl::InvalidArgumentError("no updates to aggregate");
  }
  for (absl::Span<const float> u : updates) {
    if (u.size() != updates[0].size()) {
      return absl::InvalidArgumentError(
          "updates to aggregate differ in length");
    }
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
