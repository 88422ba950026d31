#include "server/grpc_server.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/transport/grpc_credentials.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace fedlearn {
namespace {

int Millis(Duration d) {
  return static_cast<int>(std::min<int64_t>(d.count(), INT32_MAX));
}

void ApplyConnectionLimits(const ServiceLimits& limits,
                           grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             limits.max_streams_per_connection);
  // Keepalive enforcement: a client may ping without data at most this
  // often; two strikes and it gets GOAWAY.
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      Millis(limits.min_client_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  // The server pings idle connections itself (every 2 min, 20 s to
  // answer) so dead peers do not keep their connection.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 120'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             Millis(limits.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             Millis(limits.handshake_timeout));
}

}  // namespace

absl::StatusOr<RunningServer> StartGrpcServer(const std::string& address,
                                              const TlsConfig& tls,
                                              grpc::Service* service,
                                              const ServiceLimits& limits) {
  return StartGrpcServer(address, tls, std::vector<grpc::Service*>{service},
                         limits);
}

absl::StatusOr<RunningServer> StartGrpcServer(
    const std::string& address, const TlsConfig& tls,
    const std::vector<grpc::Service*>& services, const ServiceLimits& limits) {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (tls.insecure) {
    spdlog::warn(
        "INSECURE MODE: the coordinator accepts plaintext connections "
        "and trusts client-claimed identities. Never use this outside "
        "a trusted test host.");
    credentials = grpc::InsecureServerCredentials();
  } else {
    ASSIGN_OR_RETURN(TlsMaterial material, LoadTlsMaterial(tls));
    credentials = MutualTlsServerCredentials(material);
  }
  RunningServer running;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, credentials, &running.port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  // gRPC enables SO_REUSEPORT by default: a second coordinator (or any
  // process) could then bind the same port and silently receive half of the
  // connections. One port, one coordinator: a clash is a startup error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Payloads are chunked at 1 MiB; the receive limit leaves headroom and
  // no more. Sent tasks are chunked the same way (clients accept 8 MiB).
  builder.SetMaxReceiveMessageSize(limits.max_message_bytes);
  builder.SetMaxSendMessageSize(8 << 20);
  ApplyConnectionLimits(limits, builder);
  running.server = builder.BuildAndStart();
  if (running.server == nullptr || running.port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address,
                     " (in use, bad address, or unreadable TLS files)"));
  }
  return running;
}

}  // namespace fedlearn
