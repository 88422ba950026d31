#include "server/grpc_server.h"

#include "absl/strings/str_cat.h"
#include "common/transport/grpc_credentials.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace fedlearn {

absl::StatusOr<RunningServer> StartGrpcServer(const std::string& address,
                                              const TlsConfig& tls,
                                              grpc::Service* service) {
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
  builder.RegisterService(service);
  // gRPC enables SO_REUSEPORT by default: a second coordinator (or any
  // process) could then bind the same port and silently receive half of the
  // connections. One port, one coordinator: a clash is a startup error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Payloads are chunked at 1 MiB; 8 MiB leaves headroom and no more.
  builder.SetMaxReceiveMessageSize(8 << 20);
  builder.SetMaxSendMessageSize(8 << 20);
  running.server = builder.BuildAndStart();
  if (running.server == nullptr || running.port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address,
                     " (in use, bad address, or unreadable TLS files)"));
  }
  return running;
}

}  // namespace fedlearn
