#include "common/transport/grpc_credentials.h"

#include <string>

#include "common/crypto/secret_bytes.h"

namespace fedlearn {

std::shared_ptr<grpc::ChannelCredentials> MutualTlsChannelCredentials(
    const TlsMaterial& material) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = material.ca_cert_pem;
  ssl.pem_cert_chain = material.cert_pem;
  ssl.pem_private_key = std::string(material.key_pem.view());
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::SslCredentials(ssl);
  WipeString(ssl.pem_private_key);
  return credentials;
}

std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(
    const TlsMaterial& material) {
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = material.ca_cert_pem;
  options.pem_key_cert_pairs.push_back(
      {std::string(material.key_pem.view()), material.cert_pem});
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::SslServerCredentials(options);
  for (auto& pair : options.pem_key_cert_pairs) WipeString(pair.private_key);
  return credentials;
}

}  // namespace fedlearn
