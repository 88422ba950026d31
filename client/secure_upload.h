// Uploads one round's update through secure aggregation: takes its encoding
// (client/update_encoding.h), then drives the SecAggClient state
// machine (client/secagg/) over the transport, polling the coordinator for
// each phase's message, until the client has sent its unmasking shares.
// The raw update never leaves this function; only the masked vector does.
//
// Ends with an error (and nothing further sent) if the protocol aborts on
// either side, the coordinator reports the round's aggregation ended, the
// client is stopped, or the deadline passes.
#ifndef FEDLEARN_CLIENT_SECURE_UPLOAD_H_
#define FEDLEARN_CLIENT_SECURE_UPLOAD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "client/coordinator_transport.h"
#include "client/training/local_trainer.h"
#include "common/transport/tls_config.h"

namespace fedlearn {

struct SecureUploadIdentity {
  std::string client_id;  // as the coordinator knows us (certificate CN)
  TlsConfig tls;          // certificate, key and CA used to sign our keys
};

// Fault injection for end-to-end tests: terminate the process (exit code
// 17, no cleanup) right after this many protocol messages were delivered.
// 2 = just after sharing keys. 0 = never. Not a configuration knob.
struct SecureUploadFaults {
  int exit_after_messages = 0;
};

absl::Status SecureUpload(CoordinatorTransport* transport,
                          const ReceivedTask& task,
                          std::vector<uint32_t> encoded,
                          const SecureUploadIdentity& identity,
                          const std::atomic<bool>& cancel,
                          std::chrono::milliseconds timeout,
                          SecureUploadFaults faults = {});

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECURE_UPLOAD_H_
