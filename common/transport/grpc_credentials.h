// gRPC credentials for mutual TLS, built from loaded TlsMaterial. The one
// place where the private key leaves SecretBytes: gRPC's options structs take
// std::string, so the key is copied into one at the last moment and that copy
// is wiped (OPENSSL_cleanse) as soon as the credentials are built.
//
// What gRPC itself keeps (1.51, src/core/lib/security/credentials/ssl/):
// the credentials object copies the PEM key with gpr_strdup and holds that
// copy for its own lifetime (channel credentials: as long as any channel
// uses them; server credentials: as long as the server runs), then frees it
// without wiping; building server credentials also makes and frees one
// transient unwiped copy. OpenSSL holds the parsed key in each SSL_CTX. None
// of that is reachable from here; the process's own copies are wiped.
// Thread-safe: no shared state.
#ifndef FEDLEARN_COMMON_TRANSPORT_GRPC_CREDENTIALS_H_
#define FEDLEARN_COMMON_TRANSPORT_GRPC_CREDENTIALS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "common/transport/tls_config.h"

namespace fedlearn {

// A client's channel credentials: trusts `material.ca_cert_pem` and presents
// its own certificate chain and key.
std::shared_ptr<grpc::ChannelCredentials> MutualTlsChannelCredentials(
    const TlsMaterial& material);

// A server's credentials: presents its certificate and key, and requires and
// verifies a client certificate issued by `material.ca_cert_pem`.
std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(
    const TlsMaterial& material);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_TRANSPORT_GRPC_CREDENTIALS_H_
