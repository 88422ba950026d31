// The HTTP endpoint a Prometheus server scrapes: GET/HEAD /metrics (the
// registry in the text format 0.0.4), /healthz (200 "ok": the process
// serves) and /readyz (200 if Options::ready says so, else 503). Any other
// path is 404, any other method 405. Served with Boost.Beast on one
// io_context thread of its own.
//
// Guarantees: a request header over kMaxHeaderBytes is answered 431 and the
// connection closed; a connection that does not deliver a whole request
// within kReadTimeout (or does not take the response within it) is closed,
// so a silent peer holds one of at most kMaxConnections slots for a bounded
// time; a connection beyond kMaxConnections is closed at once. The endpoint
// has no TLS and no authentication: it listens on loopback unless told
// otherwise, and Start() logs a warning when the address is not a loopback
// address. What it serves is what the registry holds: numbers, never data.
//
// Refuses: a listen address that is not HOST:PORT with a numeric port and a
// resolvable host (InvalidArgument naming it); an address it cannot bind,
// e.g. a port in use (Unavailable naming it).
//
// Thread-safety: Start() and port() from any thread. The registry and the
// callbacks are used on the server's thread; they must be thread-safe
// (MetricsRegistry is) and outlive the server. The destructor stops
// accepting, closes every connection and joins the thread.
#ifndef FEDLEARN_COMMON_METRICS_METRICS_HTTP_SERVER_H_
#define FEDLEARN_COMMON_METRICS_METRICS_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics/metrics_registry.h"

namespace fedlearn {

class MetricsHttpServer {
 public:
  static constexpr size_t kMaxHeaderBytes = 8 * 1024;
  static constexpr std::chrono::seconds kReadTimeout{10};
  static constexpr int kMaxConnections = 16;

  struct Options {
    std::string listen;  // HOST:PORT; port 0 = the OS picks
    std::function<bool()>
        ready;  // /readyz: 200 if true, else 503; null = ready
    // Called before each /metrics render, e.g. to refresh gauges read from
    // elsewhere; must be cheap and must not block. Null: nothing.
    std::function<void()> on_scrape;
  };

  // REQUIRES: `registry` is non-null and outlives the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const MetricsRegistry* registry, Options options);

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;
  ~MetricsHttpServer();

  // The bound port (the OS's choice when Options::listen asked for 0).
  int port() const { return port_; }

 private:
  struct Impl;
  explicit MetricsHttpServer(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_METRICS_METRICS_HTTP_SERVER_H_
