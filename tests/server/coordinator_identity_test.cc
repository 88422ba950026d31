// Who may call the coordinator, over the real gRPC path: a real port
// (127.0.0.1, OS-chosen), certificates from a throwaway CA, the real client
// transport. Each defective certificate is refused, and the test names the
// layer that refused it: the TLS handshake (the client sees UNAVAILABLE) or
// the ClientAuthorizer (UNAUTHENTICATED / PERMISSION_DENIED with a reason).
#include <unistd.h>

#include <filesystem>

#include "client/client_session.h"
#include "client/grpc_coordinator_transport.h"
#include "common/util/atomic_file.h"
#include "common/util/status_class.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "server/identity/client_authorizer.h"
#include "server/identity/identity_reloader.h"
#include "tests/server/identity/test_federation.h"
#include "tests/test_util/mtls_coordinator.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;
using testing_util::MtlsCoordinator;
using testing_util::RecordingAuditSink;
using testing_util::ScopedTempDir;
using testing_util::TestFederation;

FlatModel MakeModel() {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back({"w", {4}, DType::kFloat32});
  model.values = FlatVector(4);
  return model;
}

class CoordinatorIdentityTest : public ::testing::Test {
 protected:
  CoordinatorIdentityTest()
      : coordinator_(dir_.path()),
        federation_(coordinator_.federation()),
        audit_(coordinator_.audit()) {}

  void StartServer(IdentityConfig identity) {
    RoundEngineConfig config;
    config.secagg.enabled = false;
    config.run_id = "id-test";
    config.num_rounds = 1;
    config.min_clients = 2;
    config.clients_per_round = 2;
    config.min_updates = 1;
    config.round_timeout = std::chrono::seconds(60);
    absl::Status started =
        coordinator_.Start(config, MakeModel(), std::move(identity));
    ASSERT_TRUE(started.ok()) << started;
    engine_ = coordinator_.engine();
    authorizer_ = coordinator_.authorizer();
  }
  void StartServer(std::vector<std::string> enrolled) {
    IdentityConfig identity;
    identity.enrolled_clients = std::move(enrolled);
    StartServer(std::move(identity));
  }

  std::unique_ptr<GrpcCoordinatorTransport> Client(const std::string& name) {
    return coordinator_.Transport(name);
  }
  // A bare channel presenting `name`.pem/.key, without the client
  // transport's own checks (it refuses to present an expired certificate).
  grpc::Status RawGetContract(const std::string& name) {
    const TlsConfig tls = federation_.Tls(name);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *ReadFileToString(tls.ca_cert_path);
    ssl.pem_cert_chain = *ReadFileToString(tls.cert_path);
    ssl.pem_private_key = *ReadFileToString(tls.key_path);
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto stub = v1::Coordinator::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(coordinator_.port()),
        grpc::SslCredentials(ssl), args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::GetContractRequest request;
    v1::GetContractResponse response;
    return stub->GetContract(&context, request, &response);
  }
  absl::Status RegisterAs(GrpcCoordinatorTransport& client) {
    return client.Register(10, engine_->GetContract().digest).status();
  }
  // True iff `id` registered with the engine.
  bool Registered(const std::string& id) {
    return !absl::IsNotFound(engine_->Heartbeat(id));
  }

  ScopedTempDir dir_;
  MtlsCoordinator coordinator_;
  TestFederation& federation_;     // coordinator_'s
  RecordingAuditSink& audit_;      // coordinator_'s
  RoundEngine* engine_ = nullptr;  // coordinator_'s, once started
  ClientAuthorizer* authorizer_ = nullptr;
};

TEST_F(CoordinatorIdentityTest, EnrolledSiteJoinsAndTheJoinIsAudited) {
  const std::string pem = federation_.Issue("site-a");
  StartServer({"site-a"});
  auto client = Client("site-a");
  ASSERT_TRUE(client->GetContract().ok());
  ASSERT_TRUE(RegisterAs(*client).ok());
  std::vector<AuditEvent> joins = audit_.Named("join");
  ASSERT_THAT(joins, SizeIs(1));
  EXPECT_EQ(joins[0].client_id, "site-a");
  EXPECT_EQ(joins[0].details["num_examples"], 10);
  EXPECT_EQ(joins[0].details["serial"], *SerialOfCertificate(pem));
}

// Layer: ClientAuthorizer. gRPC's x509_common_name property shows only the
// first CN, so before the authorizer read the whole certificate this
// identity was admitted as "site-a".
TEST_F(CoordinatorIdentityTest, TwoCommonNamesAreRefused) {
  IssueOptions two;
  two.extra_common_names = {"site-b"};
  federation_.Issue("site-a", two);
  StartServer({"site-a", "site-b"});
  auto client = Client("site-a");
  absl::Status status = client->GetContract().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
  EXPECT_THAT(status.message(), HasSubstr("exactly one common name"));
  EXPECT_EQ(RegisterAs(*client).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(Registered("site-a"));
  EXPECT_FALSE(audit_.Named("refused").empty());
}

// Layer: ClientAuthorizer, first RPC. Before enrolment existed any
// certificate of the CA was admitted.
TEST_F(CoordinatorIdentityTest, UnenrolledIdentityIsRefusedAtItsFirstRpc) {
  federation_.Issue("site-x");
  StartServer({"site-a"});
  auto client = Client("site-x");
  absl::Status status = client->GetContract().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_THAT(status.message(),
              HasSubstr("certificate CN 'site-x' is not enrolled for run "
                        "'id-test'"));
  EXPECT_EQ(RegisterAs(*client).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(Registered("site-x"));
  ASSERT_THAT(audit_.Named("refused"), SizeIs(2));
  EXPECT_EQ(audit_.Named("refused")[0].client_id, "site-x");
}

// Layer: ClientAuthorizer (role). Before roles, an operator's certificate
// was just another client.
TEST_F(CoordinatorIdentityTest, OperatorCertificateIsRefusedOnClientRpcs) {
  IssueOptions op;
  op.role = CertificateRole::kOperator;
  federation_.Issue("admin", op);
  StartServer({"admin"});
  auto client = Client("admin");
  absl::Status status = RegisterAs(*client);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_THAT(status.message(), HasSubstr("role 'operator'"));
  EXPECT_FALSE(Registered("admin"));
}

// Layer: the TLS handshake (OpenSSL's TLS-client purpose check refuses a
// serverAuth-only certificate); PeerCertificateTest covers the authorizer's
// own check, which also refuses a certificate with no EKU at all.
TEST_F(CoordinatorIdentityTest, CertificateWithoutClientAuthIsRefused) {
  IssueOptions server_like;
  server_like.omit_client_auth_eku = true;
  federation_.Issue("site-a", server_like);
  StartServer({"site-a"});
  auto client = Client("site-a");
  absl::Status status = RegisterAs(*client);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_FALSE(Registered("site-a"));
}

// Layer: the TLS handshake (UNAVAILABLE: the coordinator closed the
// connection); the authorizer's own chain check would refuse them too.
TEST_F(CoordinatorIdentityTest, ExpiredNotYetValidAndForeignAreRefused) {
  IssueOptions not_yet;
  not_yet.not_before_offset_days = 5;
  federation_.Issue("site-a", ExpiredIssueOptions());
  federation_.Issue("site-b", not_yet);
  ScopedTempDir other_dir;
  TestFederation other(other_dir.path());
  other.Issue("site-c");
  for (const char* name : {"site-c.pem", "site-c.key"}) {
    std::filesystem::copy_file(other_dir.path() + "/" + name,
                               dir_.path() + "/" + name);
  }
  StartServer({"site-a", "site-b", "site-c"});
  for (const std::string id : {"site-a", "site-b", "site-c"}) {
    grpc::Status status = RawGetContract(id);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << id << ": " << status.error_message();
    EXPECT_FALSE(Registered(id)) << id;
  }
  EXPECT_TRUE(audit_.Named("refused").empty());  // never reached the service
}

// Layer: ClientAuthorizer + IdentityReloader + RoundEngine::Evict. Before
// revocation existed a revoked certificate kept its session and could
// register again.
TEST_F(CoordinatorIdentityTest, RevokedCertificateIsRefusedAndItsSessionEnded) {
  const std::string a = federation_.Issue("site-a");
  federation_.Issue("site-b");
  IdentityConfig identity;
  identity.enrolled_clients = {"site-a", "site-b"};
  identity.crl_file = federation_.Revoke({}, 1);
  StartServer(identity);
  auto client_a = Client("site-a");
  auto client_b = Client("site-b");
  ASSERT_TRUE(RegisterAs(*client_a).ok());
  ASSERT_TRUE(RegisterAs(*client_b).ok());
  engine_->Tick();  // round 1 starts with both
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);

  federation_.Revoke({*SerialOfCertificate(a)}, 2);
  IdentityReloader reloader(
      authorizer_,
      [&](const Eviction& e) { (void)engine_->Evict(e.client_id, e.reason); },
      std::chrono::seconds(60));
  RequestIdentityReload();
  ASSERT_THAT(reloader.PollOnce(), SizeIs(1));

  std::vector<DepartedClient> departed = engine_->departures();
  ASSERT_THAT(departed, SizeIs(1));
  EXPECT_EQ(departed[0].client_id, "site-a");
  EXPECT_THAT(departed[0].reason, HasSubstr("revoked"));
  EXPECT_THAT(audit_.Named("revoked"), SizeIs(1));
  for (absl::Status status :
       {client_a->Heartbeat("id-test", "").status(), RegisterAs(*client_a),
        client_a->GetContract().status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
    EXPECT_THAT(status.message(), HasSubstr("is revoked"));
  }
  EXPECT_TRUE(client_b->Heartbeat("id-test", "").ok());

  // site-a counts as a dropout of the open attempt: once site-b answers,
  // the round closes without waiting for its deadline.
  absl::StatusOr<FetchReply> task = client_b->FetchTask("id-test", 0);
  ASSERT_TRUE(task.ok() && task->task.has_value()) << task.status();
  FlatVector delta(4);
  OutgoingUpdate update{"id-test", 1, 0, 10, 0.5, 1.0, &delta, {}};
  ASSERT_TRUE(client_b->PushResult(update).ok());
  engine_->Tick();
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
}

// Layer: ClientRegistry (session_takeover), reached through the real
// transport: two processes presenting one certificate.
TEST_F(CoordinatorIdentityTest, SecondSessionWithTheSameCertificateIsRefused) {
  federation_.Issue("site-a");
  StartServer({"site-a"});
  auto first = Client("site-a");
  auto second = Client("site-a");  // its own session id and channel
  ASSERT_TRUE(RegisterAs(*first).ok());
  absl::Status status = RegisterAs(*second);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
  EXPECT_TRUE(first->Heartbeat("id-test", "").ok());
  EXPECT_THAT(audit_.Named("join"), SizeIs(1));
}

// A site whose certificate the coordinator refuses at its first RPC stops
// for good (the daemon exits 78) instead of retrying forever.
class UnusedTrainer : public LocalTrainer {
 public:
  const ModelSpec& Spec() const override { return spec_; }
  uint64_t NumExamples() const override { return 10; }
  absl::StatusOr<TrainingResult> Train(const FlatVector&, const TrainingConfig&,
                                       const std::atomic<bool>&) override {
    return absl::InternalError("never trains");
  }
  ModelSpec spec_ = MakeModel().spec;
};

TEST_F(CoordinatorIdentityTest, RefusedSiteStopsPermanentlyAtItsFirstRpc) {
  federation_.Issue("site-x");
  StartServer({"site-a"});
  auto transport = Client("site-x");
  UnusedTrainer trainer;
  ClientSession session(transport.get(), &trainer, nullptr, {});
  std::atomic<bool> cancel{false};
  ClientSession::StepResult step = session.Step(cancel);
  EXPECT_EQ(step.kind, ClientSession::StepKind::kFailed);
  EXPECT_TRUE(IsPermanent(step.status)) << step.status;
  EXPECT_THAT(step.status.message(), HasSubstr("is not enrolled"));
  EXPECT_THAT(step.status.message(), HasSubstr("enrol this site"));
}

}  // namespace
}  // namespace fedlearn
