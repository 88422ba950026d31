// ServiceLimits: every bound the coordinator's gRPC service puts on what one
// client (or all of them together) may make it hold: messages, streams,
// buffers, RPC rate, time. One struct, so the config file, the service and
// the server builder read the same numbers. Plain data, no behaviour; the
// defaults are safe for a public port (docs/security.md, "Message
// discipline").
#ifndef FEDLEARN_SERVER_ADMISSION_SERVICE_LIMITS_H_
#define FEDLEARN_SERVER_ADMISSION_SERVICE_LIMITS_H_

#include <chrono>
#include <cstdint>

#include "common/util/clock.h"

namespace fedlearn {

struct ServiceLimits {
  // Updates buffered at once, all clients together (each is one model in
  // memory). A stream that finds them busy is refused (RESOURCE_EXHAUSTED,
  // retry in `upload_retry_after_ms`), never queued.
  int max_concurrent_uploads = 4;
  uint32_t upload_retry_after_ms = 1000;
  // Concurrent PushResult / FetchTask streams of one identity.
  int max_uploads_per_identity = 2;
  int max_downloads_per_identity = 2;
  // Streams open at once, all clients together, counted from the first
  // byte (before a header names anyone).
  int max_open_streams = 1000;
  // Long-polling FetchTask streams (FetchTaskRequest.wait_ms) waiting for a
  // task at once, all clients together. A waiting stream holds no thread
  // and none of the stream budgets above (only its identity's download
  // slot); once its task exists it takes one of max_open_streams again.
  int max_waiting_fetches = 10'000;
  // The longest wait granted, whatever a client asks (also to a held
  // SecAggExchange, SecAggRequest.wait_ms).
  Duration max_fetch_wait = std::chrono::seconds(60);
  // Long-polling SecAggExchange calls (SecAggRequest.wait_ms) held at once,
  // all clients together, each waiting for its next secure-aggregation
  // phase with no thread.
  int max_waiting_secagg_exchanges = 10'000;
  // Per-identity RPC rate (token bucket): `rpc_rate_per_second` tokens a
  // second, at most `rpc_burst` saved up. Every RPC costs one.
  double rpc_rate_per_second = 50;
  double rpc_burst = 100;
  // Identities whose buckets are remembered (insecure mode lets clients
  // claim any name); full buckets are forgotten first.
  int max_tracked_identities = 10'000;
  // Messages on one PushResult stream, header included.
  int max_chunks_per_stream = 16'384;
  // gRPC's per-message receive limit (payload chunks are 1 MiB).
  int max_message_bytes = 4 << 20;
  // No message read (or write completed) for this long: the stream is
  // cancelled with DEADLINE_EXCEEDED. A header must arrive within it too.
  Duration stream_idle_timeout = std::chrono::seconds(30);
  // No stream lives longer than this, however busy.
  Duration stream_deadline = std::chrono::minutes(30);
  // How often the one watchdog looks for expired streams.
  Duration watchdog_period = std::chrono::milliseconds(100);
  // HTTP/2 streams one connection may have open (GRPC_ARG_MAX_CONCURRENT_
  // STREAMS); further ones wait on the client side.
  int max_streams_per_connection = 16;
  // Keepalive enforcement: a client pinging more often than this (without
  // data) is sent GOAWAY after 2 strikes (gRPC's own default, made
  // explicit; our clients send no keepalive pings).
  Duration min_client_ping_interval = std::chrono::minutes(5);
  // A connection with no RPC for this long is closed (GOAWAY).
  Duration max_connection_idle = std::chrono::minutes(5);
  // A TLS handshake must complete within this.
  Duration handshake_timeout = std::chrono::seconds(10);
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ADMISSION_SERVICE_LIMITS_H_
