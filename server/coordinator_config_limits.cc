#include "server/coordinator_config_limits.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/coordinator_config.h"

namespace fedlearn {
namespace {

using Schema = ConfigSchema<CoordinatorConfig>;

// A Duration field of ServiceLimits written in (fractional) seconds.
template <typename Ref>
ConfigKeySpec& Seconds(Schema& s, std::string key, std::string doc, Ref ref) {
  const std::string name = key;
  return s.Mapped<double>(
      std::move(key), std::move(doc),
      [ref](const CoordinatorConfig& c) {
        return ref(c.limits).count() / 1000.0;
      },
      [ref, name](double seconds, CoordinatorConfig& c) {
        if (!std::isfinite(seconds) || seconds > 1e9) {
          return absl::InvalidArgumentError(
              absl::StrCat("'", name, "' must be a number of seconds"));
        }
        ref(c.limits) = Duration(static_cast<int64_t>(seconds * 1000));
        return absl::OkStatus();
      });
}

void AddStreamKeys(Schema& s) {
  s.Field(
       "limits.max_uploads_per_identity",
       "PushResult streams one client may have open at once",
       [](auto& c) -> auto& { return c.limits.max_uploads_per_identity; })
      .AtLeast(1);
  s.Field(
       "limits.max_downloads_per_identity",
       "FetchTask streams one client may have open at once",
       [](auto& c) -> auto& { return c.limits.max_downloads_per_identity; })
      .AtLeast(1);
  s.Field(
       "limits.max_open_streams",
       "streams open at once, all clients (before any header names one)",
       [](auto& c) -> auto& { return c.limits.max_open_streams; })
      .AtLeast(1);
  s.Field(
       "limits.upload_retry_after_ms",
       "retry hint when every upload buffer is busy (RESOURCE_EXHAUSTED)",
       [](auto& c) -> auto& { return c.limits.upload_retry_after_ms; })
      .AtLeast(1);
  s.Field(
       "limits.max_chunks_per_stream",
       "messages in one upload, header included (chunks are 1 MiB)",
       [](auto& c) -> auto& { return c.limits.max_chunks_per_stream; })
      .AtLeast(2);
  s.Field(
       "limits.max_message_bytes",
       "largest message received; at least 2 MiB (chunks are 1 MiB)",
       [](auto& c) -> auto& { return c.limits.max_message_bytes; })
      .AtLeast(2 << 20);
  s.Field(
       "limits.max_waiting_fetches",
       "long-polling task fetches waiting at once, all clients (no thread "
       "each)",
       [](auto& c) -> auto& { return c.limits.max_waiting_fetches; })
      .AtLeast(1);
  Seconds(
      s, "limits.max_fetch_wait_s",
      "longest a task fetch waits for a task (clients ask for up to this)",
      [](auto& l) -> auto& { return l.max_fetch_wait; })
      .AtLeast(0);
  s.Field(
       "limits.max_waiting_secagg_exchanges",
       "long-polling secure-aggregation exchanges held at once, all clients "
       "(no thread each; each waits at most max_fetch_wait_s)",
       [](auto& c) -> auto& { return c.limits.max_waiting_secagg_exchanges; })
      .AtLeast(1);
  Seconds(
      s, "limits.stream_idle_timeout_s",
      "a stream with no message for this long is ended (DEADLINE_EXCEEDED)",
      [](auto& l) -> auto& { return l.stream_idle_timeout; })
      .Above(0);
  Seconds(
      s, "limits.stream_deadline_s", "no stream lives longer than this",
      [](auto& l) -> auto& { return l.stream_deadline; })
      .Above(0);
}

void AddRateAndConnectionKeys(Schema& s) {
  s.Field(
       "limits.rpc_rate_per_second",
       "calls per second one client may make (token bucket refill)",
       [](auto& c) -> auto& { return c.limits.rpc_rate_per_second; })
      .Above(0);
  s.Field(
       "limits.rpc_burst", "calls one client may make at once (bucket size)",
       [](auto& c) -> auto& { return c.limits.rpc_burst; })
      .AtLeast(1);
  s.Field(
       "limits.max_tracked_identities",
       "clients whose rate buckets are remembered at once",
       [](auto& c) -> auto& { return c.limits.max_tracked_identities; })
      .AtLeast(1);
  s.Field(
       "limits.max_streams_per_connection",
       "HTTP/2 streams one connection may have open",
       [](auto& c) -> auto& { return c.limits.max_streams_per_connection; })
      .AtLeast(4);
  Seconds(
      s, "limits.min_client_ping_interval_s",
      "clients pinging more often (without data) get GOAWAY",
      [](auto& l) -> auto& { return l.min_client_ping_interval; })
      .AtLeast(0);
  Seconds(
      s, "limits.max_connection_idle_s",
      "connections without an RPC for this long are closed",
      [](auto& l) -> auto& { return l.max_connection_idle; })
      .Above(0);
  Seconds(
      s, "limits.handshake_timeout_s", "a TLS handshake must finish in this",
      [](auto& l) -> auto& { return l.handshake_timeout; })
      .Above(0);
}

}  // namespace

void AddServiceLimitKeys(Schema& schema) {
  schema.Section("limits",
                 "what one client may make the coordinator hold (see "
                 "docs/security.md)");
  AddStreamKeys(schema);
  AddRateAndConnectionKeys(schema);
}

}  // namespace fedlearn
