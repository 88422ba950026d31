// Where security-relevant events go: the append-only audit trail
// (audit_log.h writes it as hash-chained JSON lines).
//
// An event names what happened (`event`, e.g. "join", "refused",
// "revoked", "blamed", "round_started", "round_released"), the client it
// concerns if any, and details. Never put an update, a key, a share or any
// other secret in an event; client-supplied strings are escaped and
// truncated by the caller (EscapeUntrusted) before they get here.
//
// Thread-safety: implementations are thread-safe; Record may be called from
// any transport or driver thread.
#ifndef FEDLEARN_SERVER_AUDIT_AUDIT_SINK_H_
#define FEDLEARN_SERVER_AUDIT_AUDIT_SINK_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace fedlearn {

struct AuditEvent {
  std::string event;
  std::string client_id;  // "" if the event concerns no single client
  nlohmann::json details = nlohmann::json::object();
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Records the event durably (or logs why it could not); never throws.
  virtual void Record(const AuditEvent& event) = 0;
  // OK while every event so far was recorded; else why not. A caller about
  // to act on something it recorded (release a round) checks it first.
  virtual absl::Status status() const { return absl::OkStatus(); }
};

// Discards every event: for tests and in-process callers without a trail.
class NullAuditSink final : public AuditSink {
 public:
  void Record(const AuditEvent&) override {}
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_AUDIT_AUDIT_SINK_H_
