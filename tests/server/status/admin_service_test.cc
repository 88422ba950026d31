// AdminService over the real gRPC path: a server on 127.0.0.1 (OS-chosen
// port) with mutual TLS from a throwaway CA, and real certificates: an
// operator gets the status; a site certificate, a revoked operator and a
// coordinator without an authorizer are refused; calls are rate-limited;
// --insecure serves anyone; the answer names no client.
#include "server/status/admin_service.h"

#include <memory>
#include <string>

#include "common/transport/grpc_credentials.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "server/grpc_server.h"
#include "tests/server/identity/test_federation.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;
using testing_util::RecordingAuditSink;
using testing_util::ScopedTempDir;
using testing_util::TestFederation;

IssueOptions Operator() {
  IssueOptions options;
  options.role = CertificateRole::kOperator;
  return options;
}

class AdminServiceTest : public ::testing::Test {
 protected:
  AdminServiceTest() : federation_(dir_.path()) {
    federation_.Issue("alice", Operator());
    federation_.Issue("site-a");
    const std::string revoked = federation_.Issue("mallet", Operator());
    crl_path_ = federation_.Revoke({*SerialOfCertificate(revoked)});
    RunStatusTracker::Options tracker;
    tracker.run_id = "run-7";
    tracker.coordinator_version = "fedlearn-coordinator test";
    tracker.num_rounds = 3;
    tracker_ = std::make_unique<RunStatusTracker>(tracker);
  }
  ~AdminServiceTest() override {
    if (server_.server) server_.server->Shutdown();
  }

  // Starts the service (mutual TLS unless `insecure`).
  void Start(bool insecure, bool with_authorizer = true,
             ServiceLimits limits = {}) {
    AdminService::Options options;
    options.insecure = insecure;
    options.limits = limits;
    if (with_authorizer && !insecure) {
      ClientAuthorizer::Options authorizer;
      authorizer.run_id = "run-7";
      authorizer.identity.enrolled_clients = {"site-a"};
      authorizer.identity.crl_file = crl_path_;
      authorizer.ca_pem = federation_.ca_pem();
      authorizer.audit = &audit_;
      auto created = ClientAuthorizer::Create(std::move(authorizer));
      ASSERT_TRUE(created.ok()) << created.status();
      authorizer_ = *std::move(created);
      options.authorizer = authorizer_.get();
    }
    service_ = std::make_unique<AdminService>(tracker_.get(), nullptr, options);
    TlsConfig tls = federation_.Tls("server");
    tls.insecure = insecure;
    auto server = StartGrpcServer("127.0.0.1:0", tls, {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // GetStatus as `id` (a certificate in the federation; "" = plaintext).
  grpc::Status Call(const std::string& id,
                    v1::GetStatusResponse* response = nullptr) {
    std::shared_ptr<grpc::ChannelCredentials> credentials =
        grpc::InsecureChannelCredentials();
    grpc::ChannelArguments args;
    if (!id.empty()) {
      auto material = LoadTlsMaterial(federation_.Tls(id));
      EXPECT_TRUE(material.ok()) << material.status();
      credentials = MutualTlsChannelCredentials(*material);
      args.SetSslTargetNameOverride("localhost");
    }
    auto stub = v1::Admin::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(server_.port), credentials, args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::GetStatusResponse ignored;
    return stub->GetStatus(&context, v1::GetStatusRequest(),
                           response != nullptr ? response : &ignored);
  }

  ScopedTempDir dir_;
  TestFederation federation_;
  std::string crl_path_;
  RecordingAuditSink audit_;
  std::unique_ptr<RunStatusTracker> tracker_;
  std::unique_ptr<ClientAuthorizer> authorizer_;
  std::unique_ptr<AdminService> service_;
  RunningServer server_;
};

TEST_F(AdminServiceTest, AnOperatorGetsTheStatus) {
  Start(/*insecure=*/false);
  tracker_->OnRoundStarted(1, 1, {"site-a", "site-b", "site-c"});
  tracker_->OnPhaseStarted(1, 1, "ShareKeys");
  v1::GetStatusResponse response;
  grpc::Status status = Call("alice", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.run_id(), "run-7");
  EXPECT_EQ(response.coordinator_version(), "fedlearn-coordinator test");
  EXPECT_EQ(response.state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(response.round(), 1u);
  EXPECT_EQ(response.attempt(), 1);
  EXPECT_EQ(response.phase(), "ShareKeys");
  EXPECT_EQ(response.clients_selected(), 3u);
  EXPECT_EQ(response.rounds_configured(), 3u);
  EXPECT_FALSE(response.has_last_round());
  EXPECT_THAT(audit_.Named("refused"), SizeIs(0));
}

TEST_F(AdminServiceTest, ASiteCertificateIsPermissionDenied) {
  Start(/*insecure=*/false);
  grpc::Status status = Call("site-a");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(),
            "GetStatus: certificate CN 'site-a' has role 'site'; admin "
            "commands need an 'operator' certificate");
  ASSERT_THAT(audit_.Named("refused"), SizeIs(1));
  EXPECT_EQ(audit_.Named("refused")[0].client_id, "site-a");
}

TEST_F(AdminServiceTest, ARevokedOperatorIsRefused) {
  Start(/*insecure=*/false);
  grpc::Status status = Call("mallet");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(),
              HasSubstr("operator certificate CN 'mallet'"));
  EXPECT_THAT(status.error_message(), HasSubstr("is revoked"));
}

TEST_F(AdminServiceTest, WithoutAnAuthorizerEveryCallIsRefused) {
  Start(/*insecure=*/false, /*with_authorizer=*/false);
  grpc::Status status = Call("alice");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("no operator authorizer"));
}

TEST_F(AdminServiceTest, CallsSpendTheOperatorsRateLimit) {
  ServiceLimits limits;
  limits.rpc_burst = 2;
  limits.rpc_rate_per_second = 0.001;  // no token comes back in this test
  Start(/*insecure=*/false, /*with_authorizer=*/true, limits);
  EXPECT_TRUE(Call("alice").ok());
  EXPECT_TRUE(Call("alice").ok());
  EXPECT_EQ(Call("alice").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(AdminServiceTest, AnInsecureCoordinatorServesAnyCaller) {
  Start(/*insecure=*/true);
  v1::GetStatusResponse response;
  grpc::Status status = Call("", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.state(), v1::RUN_STATE_WAITING_FOR_CLIENTS);
  EXPECT_EQ(response.round(), 1u);
}

TEST_F(AdminServiceTest, TheAnswerNamesNoClient) {
  Start(/*insecure=*/false);
  tracker_->OnRoundStarted(1, 1, {"site-secret-x", "site-secret-y"});
  RoundSummary summary;
  summary.round = 1;
  summary.attempt = 1;
  summary.selected = 2;
  summary.participants = 1;
  summary.dropped = {"site-secret-y"};
  summary.failed_sites = {{"site-secret-z", true, "bad data"}};
  ASSERT_TRUE(tracker_->OnRoundCompleted(summary, FlatModel{}).ok());
  v1::GetStatusResponse response;
  ASSERT_TRUE(Call("alice", &response).ok());
  ASSERT_TRUE(response.has_last_round());
  EXPECT_EQ(response.last_round().dropped(), 1);
  const std::string bytes = response.SerializeAsString();
  EXPECT_EQ(bytes.find("site-secret"), std::string::npos);
  EXPECT_EQ(bytes.find("bad data"), std::string::npos);
}

}  // namespace
}  // namespace fedlearn
