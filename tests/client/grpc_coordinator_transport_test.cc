// The client transport against a real gRPC server on 127.0.0.1 (OS-chosen
// port) that requires a client certificate, with real certificates from the
// provisioning library: what an operator reads when the address is wrong or
// the TLS handshake fails. The server implements no RPC (every call answers
// UNIMPLEMENTED), which is enough to tell an accepted connection from a
// refused one.
#include "client/grpc_coordinator_transport.h"

#include <unistd.h>

#include <filesystem>

#include "common/tls/cert_authority.h"
#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class TransportRefusalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // ctest runs each test in its own process, concurrently: one dir each.
    base_ = new std::string(testing::TempDir() + "/transport_test_" +
                            std::to_string(getpid()));
    std::filesystem::remove_all(*base_);
    ProvisionOptions options;
    options.out_dir = *base_ + "/ours";
    options.client_ids = {"hospital-a"};
    ASSERT_TRUE(ProvisionDirectory(options).ok());
    options.out_dir = *base_ + "/other";
    ASSERT_TRUE(ProvisionDirectory(options).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*base_);
    delete base_;
  }

  void SetUp() override {
    TlsConfig tls = TlsConfig::FromDirectory(*base_ + "/ours", "server");
    grpc::SslServerCredentialsOptions options(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    options.pem_root_certs = *ReadFileToString(tls.ca_cert_path);
    options.pem_key_cert_pairs.push_back(
        {*ReadFileToString(tls.key_path), *ReadFileToString(tls.cert_path)});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(options),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
  }
  void TearDown() override { server_->Shutdown(); }

  // Registers with the given identity; returns the failure.
  absl::Status RegisterWith(TlsConfig tls,
                            std::string server_name = "localhost",
                            std::string target = "") {
    GrpcTransportOptions options;
    options.target =
        target.empty() ? "127.0.0.1:" + std::to_string(port_) : target;
    options.server_name_override = server_name;
    options.tls = tls;
    options.rpc_timeout = std::chrono::seconds(5);
    auto transport = GrpcCoordinatorTransport::Create(options);
    if (!transport.ok()) return transport.status();
    return (*transport)->Register(1, "").status();
  }

  static TlsConfig Ours() {
    return TlsConfig::FromDirectory(*base_ + "/ours", "hospital-a");
  }
  static TlsConfig Other() {
    return TlsConfig::FromDirectory(*base_ + "/other", "hospital-a");
  }

  static std::string* base_;
  v1::Coordinator::Service service_;  // every RPC: UNIMPLEMENTED
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

std::string* TransportRefusalTest::base_ = nullptr;

TEST_F(TransportRefusalTest, ClientOfTheFederationReachesTheService) {
  EXPECT_EQ(RegisterWith(Ours()).code(), absl::StatusCode::kUnimplemented);
}

// gRPC's own text for this case is only "... Socket closed".
TEST_F(TransportRefusalTest, ClientFromAnotherCaIsToldTheCoordinatorRefusedIt) {
  TlsConfig tls = Other();
  tls.ca_cert_path = Ours().ca_cert_path;  // trusts the coordinator
  absl::Status status = RegisterWith(tls);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("it refused our certificate"));
  EXPECT_THAT(status.message(),
              HasSubstr("does not trust the CA that signed our certificate"));
  EXPECT_THAT(status.message(), HasSubstr("expired"));
  // The local check names the certificate and the CA file as the cause.
  EXPECT_THAT(status.message(),
              HasSubstr("Most likely: TLS certificate " + tls.cert_path +
                        " is not signed by the CA in " + tls.ca_cert_path));
  EXPECT_THAT(status.message(), HasSubstr("gRPC said: "));
  EXPECT_THAT(status.message(), HasSubstr("Socket closed"));
}

TEST_F(TransportRefusalTest, ClientThatDistrustsTheCoordinatorNamesItsCaFile) {
  TlsConfig tls = Ours();
  tls.ca_cert_path = Other().ca_cert_path;
  absl::Status status = RegisterWith(tls);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(),
              HasSubstr("we refused the coordinator's TLS certificate"));
  EXPECT_THAT(status.message(), HasSubstr("--ca"));
  EXPECT_THAT(status.message(), HasSubstr("certificate verify failed"));
}

TEST_F(TransportRefusalTest, ServerNameMismatchNamesTheDialledName) {
  absl::Status status = RegisterWith(Ours(), "wrong.example");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(),
              HasSubstr("does not name \"wrong.example\" among its SANs"));
  EXPECT_THAT(status.message(), HasSubstr("--server-name"));
  EXPECT_THAT(status.message(), Not(HasSubstr("Most likely")));
  EXPECT_THAT(status.message(),
              HasSubstr("Peer name wrong.example is not in peer certificate"));
}

TEST_F(TransportRefusalTest, ClosedPortIsNotBlamedOnTls) {
  server_->Shutdown();
  absl::Status status = RegisterWith(Ours());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("Connection refused"));
  EXPECT_THAT(status.message(), Not(HasSubstr("TLS")));
}

TEST_F(TransportRefusalTest, MismatchedKeyIsRefusedBeforeDialling) {
  TlsConfig tls = Ours();
  tls.key_path = *base_ + "/ours/server.key";
  absl::Status status = RegisterWith(tls);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("do not match (the key belongs to another "
                        "certificate)"));
}

TEST_F(TransportRefusalTest, BadAddressIsRefusedBeforeDialling) {
  absl::Status status = RegisterWith(Ours(), "localhost", "127.0.0.1:");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("empty port"));
}

TEST(ParseCoordinatorTargetTest, PortDefaultsToTheDocumentedOne) {
  EXPECT_EQ(*ParseCoordinatorTarget("coordinator.example.org"),
            "coordinator.example.org:7443");
  EXPECT_EQ(*ParseCoordinatorTarget("127.0.0.1"), "127.0.0.1:7443");
  EXPECT_EQ(*ParseCoordinatorTarget("host:9000"), "host:9000");
}

TEST(ParseCoordinatorTargetTest, Ipv6AddressesGoInBrackets) {
  EXPECT_EQ(*ParseCoordinatorTarget("[::1]:7443"), "[::1]:7443");
  EXPECT_EQ(*ParseCoordinatorTarget("[::1]"), "[::1]:7443");
  EXPECT_EQ(*ParseCoordinatorTarget("[2001:db8::5]:443"), "[2001:db8::5]:443");
  absl::StatusOr<std::string> bare = ParseCoordinatorTarget("::1");
  ASSERT_FALSE(bare.ok());
  EXPECT_THAT(bare.status().message(), HasSubstr("needs brackets"));
  EXPECT_FALSE(ParseCoordinatorTarget("[::1").ok());
  EXPECT_FALSE(ParseCoordinatorTarget("[::1]7443").ok());
}

TEST(ParseCoordinatorTargetTest, BadPortsAreRefusedWithTheReason) {
  struct Case {
    const char* address;
    const char* reason;
  } cases[] = {{"host:", "empty port"},
               {"host:http", "port \"http\" is not a number"},
               {"host:-1", "is not a number"},
               {"host:0", "outside 1..65535"},
               {"host:65536", "outside 1..65535"},
               {"host:99999999999999", "outside 1..65535"},
               {":7443", "no host"},
               {"", "no coordinator address"}};
  for (const Case& c : cases) {
    absl::StatusOr<std::string> target = ParseCoordinatorTarget(c.address);
    ASSERT_FALSE(target.ok()) << c.address;
    EXPECT_EQ(target.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(target.status().message(), HasSubstr(c.reason)) << c.address;
    if (*c.address != '\0') {
      EXPECT_THAT(target.status().message(), HasSubstr("port 7443"));
    }
  }
}

TEST(ParseCoordinatorTargetTest, GrpcSchemesPassUnchanged) {
  EXPECT_EQ(*ParseCoordinatorTarget("dns:///coordinator:7443"),
            "dns:///coordinator:7443");
  EXPECT_EQ(*ParseCoordinatorTarget("unix:/run/fedlearn.sock"),
            "unix:/run/fedlearn.sock");
}

}  // namespace
}  // namespace fedlearn
