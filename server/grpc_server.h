// Starts the coordinator's gRPC server on an address, with mutual TLS unless
// insecure mode was asked for explicitly. Clients without a certificate
// signed by the configured CA fail the handshake. The transport-level
// limits of ServiceLimits are applied here: the largest message received
// (RESOURCE_EXHAUSTED beyond it), HTTP/2 streams per connection, keepalive
// enforcement (pings more often than min_client_ping_interval: GOAWAY),
// idle connections closed, a bounded TLS handshake.
#ifndef FEDLEARN_SERVER_GRPC_SERVER_H_
#define FEDLEARN_SERVER_GRPC_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/transport/tls_config.h"
#include "grpcpp/server.h"
#include "server/admission/service_limits.h"

namespace grpc {
class Service;
}

namespace fedlearn {

struct RunningServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the bound port (useful with ":0")
};

// `address` like "127.0.0.1:0" or "0.0.0.0:7443". Every service in
// `services` (not owned; none null) is served on the one port, behind the
// same TLS and limits (the sites' Coordinator and the operators' Admin).
absl::StatusOr<RunningServer> StartGrpcServer(
    const std::string& address, const TlsConfig& tls,
    const std::vector<grpc::Service*>& services,
    const ServiceLimits& limits = {});

// One service.
absl::StatusOr<RunningServer> StartGrpcServer(const std::string& address,
                                              const TlsConfig& tls,
                                              grpc::Service* service,
                                              const ServiceLimits& limits = {});

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_GRPC_SERVER_H_
