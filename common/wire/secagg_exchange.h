// The reply to one secure-aggregation exchange (the SecAggExchange RPC), as
// both sides see it: the coordinator's round engine produces it and the
// client's transport decodes it from v1::SecAggResponse. One definition, so
// the two sides cannot drift apart.
//
// Guarantees: `aborted` with a `reason` means the client's session for this
// round is over (the round completed, was aborted or restarted) and the
// client must stop, not retry. Otherwise `message` (may be empty: nothing
// yet) is what the server has for the client now, and `retry_after_ms` is
// the polling hint (unless `waited`). A plain value type; no thread-safety
// concerns.
#ifndef FEDLEARN_COMMON_WIRE_SECAGG_EXCHANGE_H_
#define FEDLEARN_COMMON_WIRE_SECAGG_EXCHANGE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

struct SecAggExchangeReply {
  std::optional<v1::SecAggServerMessage> message;
  uint32_t retry_after_ms = 0;
  bool aborted = false;
  std::string reason;
  // The coordinator held the call (SecAggRequest.wait_ms) until this client
  // had something new or the wait ran out: with nothing new, ask again at
  // once rather than after retry_after_ms (SecAggResponse.waited).
  bool waited = false;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_WIRE_SECAGG_EXCHANGE_H_
