// What a secure-aggregation client reports while it runs: the phase it
// entered and why it aborted. The facade (secagg_client.h) calls the
// listener after every state change, so the states themselves never log.
// The default listener logs through spdlog exactly what the client always
// logged (an abort, as a warning); tests install one that records events.
//
// Listeners are called on the thread that drives the client, synchronously,
// never concurrently for one client. They must not call back into the
// client. Reasons may quote what the server sent: treat them as untrusted.
#ifndef FEDLEARN_CLIENT_SECAGG_CLIENT_LISTENER_H_
#define FEDLEARN_CLIENT_SECAGG_CLIENT_LISTENER_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace fedlearn {

class SecAggClientListener {
 public:
  virtual ~SecAggClientListener() = default;
  // The client is now in `phase` (a state's Name(): "AdvertiseKeys" at
  // Create, then "ShareKeys", "MaskedInput", "ConsistencyCheck",
  // "Unmasking", "Completed").
  virtual void OnPhaseEntered(const std::string& client_id,
                              std::string_view phase) = 0;
  // The client aborted while in `phase`; it accepts nothing from now on.
  virtual void OnAborted(const std::string& client_id, std::string_view phase,
                         const absl::Status& reason) = 0;
};

// Logs aborts as spdlog warnings; phase changes are not logged.
class LoggingSecAggClientListener final : public SecAggClientListener {
 public:
  void OnPhaseEntered(const std::string& client_id,
                      std::string_view phase) override {}
  void OnAborted(const std::string& client_id, std::string_view phase,
                 const absl::Status& reason) override;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECAGG_CLIENT_LISTENER_H_
