// The coordinator's gRPC service on a real port (127.0.0.1, OS-chosen) with
// real certificates from the provisioning library, driven by the real client
// transport. No LibTorch: updates are synthetic.
#include "server/coordinator_service.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <thread>

#include "client/grpc_coordinator_transport.h"
#include "common/tls/cert_authority.h"
#include "common/util/atomic_file.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/grpc_server.h"

namespace fedlearn {
namespace {

FlatModel MakeModel(size_t n) {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back(
      {"w", {static_cast<int64_t>(n)}, DType::kFloat32});
  model.values = FlatVector(n);
  for (size_t i = 0; i < n; ++i)
    model.values[i] = static_cast<float>(i % 97) * 0.01f;
  return model;
}

class CoordinatorServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // ctest runs each test in its own process, concurrently: one dir each.
    const std::string base =
        testing::TempDir() + "/service_test_" + std::to_string(getpid());
    certs_ = new std::string(base + "_certs");
    other_ = new std::string(base + "_other_ca");
    std::filesystem::remove_all(*certs_);
    std::filesystem::remove_all(*other_);
    ProvisionOptions options;
    options.out_dir = *certs_;
    options.client_ids = {"hospital-a", "hospital-b", "bank-c"};
    ASSERT_TRUE(ProvisionDirectory(options).ok());
    options.out_dir = *other_;
    options.client_ids = {"hospital-a"};
    ASSERT_TRUE(ProvisionDirectory(options).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*certs_);
    std::filesystem::remove_all(*other_);
    delete certs_;
    delete other_;
  }

  void StartServer(size_t model_size, int clients_per_round,
                   CoordinatorMetrics* metrics = nullptr) {
    RoundEngineConfig config;
    config.secagg.enabled =
        false;  // plaintext path; secure rounds tested elsewhere
    config.run_id = "svc-test";
    config.num_rounds = 1;
    config.min_clients = clients_per_round;
    config.clients_per_round = clients_per_round;
    config.min_updates = 1;
    config.round_timeout = std::chrono::seconds(60);
    auto engine =
        RoundEngine::Create(config, MakeModel(model_size), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    CoordinatorService::Options service_options;
    service_options.metrics = metrics;
    service_ =
        std::make_unique<CoordinatorService>(engine_.get(), service_options);
    auto server = StartGrpcServer("127.0.0.1:0",
                                  TlsConfig::FromDirectory(*certs_, "server"),
                                  service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    if (server_.server) server_.server->Shutdown();
  }

  std::unique_ptr<GrpcCoordinatorTransport> Client(const TlsConfig& tls) {
    GrpcTransportOptions options;
    options.target = "127.0.0.1:" + std::to_string(server_.port);
    options.server_name_override = "localhost";
    options.tls = tls;
    options.rpc_timeout = std::chrono::seconds(10);
    auto transport = GrpcCoordinatorTransport::Create(options);
    EXPECT_TRUE(transport.ok()) << transport.status();
    return transport.ok() ? *std::move(transport) : nullptr;
  }

  static std::string* certs_;
  static std::string* other_;
  SystemClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<CoordinatorService> service_;
  RunningServer server_;
};

std::string* CoordinatorServiceTest::certs_ = nullptr;
std::string* CoordinatorServiceTest::other_ = nullptr;

TEST_F(CoordinatorServiceTest, IdentityIsTheCertificateCommonName) {
  StartServer(10, 1);
  auto client = Client(TlsConfig::FromDirectory(*certs_, "hospital-b"));
  absl::StatusOr<RegisterReply> reply =
      client->Register(100, engine_->GetContract().digest);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->client_id, "hospital-b");
  EXPECT_EQ(reply->run_id, "svc-test");
}

TEST_F(CoordinatorServiceTest, ClientWithoutCertificateIsRefused) {
  StartServer(10, 1);
  TlsConfig tls = TlsConfig::FromDirectory(*certs_, "hospital-a");
  // Trust the server but present no certificate of our own.
  GrpcTransportOptions options;
  options.target = "127.0.0.1:" + std::to_string(server_.port);
  options.server_name_override = "localhost";
  options.rpc_timeout = std::chrono::seconds(5);
  auto ca = ReadFileToString(tls.ca_cert_path);
  ASSERT_TRUE(ca.ok());
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *ca;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel(options.target,
                                           grpc::SslCredentials(ssl), args);
  auto stub = v1::Coordinator::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  v1::RegisterRequest request;
  v1::RegisterResponse response;
  grpc::Status status = stub->Register(&context, request, &response);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

TEST_F(CoordinatorServiceTest, ClientFromAnotherCaIsRefused) {
  StartServer(10, 1);
  TlsConfig tls = TlsConfig::FromDirectory(*other_, "hospital-a");
  // Trusts the real server CA, but its own certificate is from another CA.
  tls.ca_cert_path = *certs_ + "/ca.pem";
  auto client = Client(tls);
  absl::StatusOr<RegisterReply> reply =
      client->Register(100, engine_->GetContract().digest);
  EXPECT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable)
      << reply.status();
}

TEST_F(CoordinatorServiceTest, ClientRefusesServerFromAnotherCa) {
  StartServer(10, 1);
  TlsConfig tls = TlsConfig::FromDirectory(*certs_, "hospital-a");
  tls.ca_cert_path = *other_ + "/ca.pem";
  auto client = Client(tls);
  EXPECT_FALSE(client->Register(100, engine_->GetContract().digest).ok());
}

// Pushes a raw update stream: header + payload chunks as given.
grpc::Status PushRaw(v1::Coordinator::Stub* stub,
                     const v1::UpdateHeader& header,
                     const std::vector<std::string>& chunks) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::PushResultResponse response;
  auto writer = stub->PushResult(&context, &response);
  v1::ResultChunk chunk;
  *chunk.mutable_header() = header;
  writer->Write(chunk);
  for (const std::string& bytes : chunks) {
    v1::ResultChunk data;
    data.set_update_data(bytes);
    if (!writer->Write(data)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

TEST_F(CoordinatorServiceTest,
       MalformedUpdatesAreRejectedAndTheRoundCompletesWithTheOthers) {
  constexpr size_t kSize = 1000;
  StartServer(kSize, 3);
  std::vector<std::string> ids = {"hospital-a", "hospital-b", "bank-c"};
  std::map<std::string, std::unique_ptr<GrpcCoordinatorTransport>> clients;
  for (const std::string& id : ids) {
    clients[id] = Client(TlsConfig::FromDirectory(*certs_, id));
    ASSERT_TRUE(clients[id]->Register(10, engine_->GetContract().digest).ok());
  }
  engine_->Tick();  // starts round 1 with all three
  std::map<std::string, ReceivedTask> tasks;
  for (const std::string& id : ids) {
    absl::StatusOr<FetchReply> reply = clients[id]->FetchTask("svc-test", 0);
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_TRUE(reply->task.has_value()) << reply->reason;
    EXPECT_EQ(reply->task->model.values.size(), kSize);
    tasks[id] = *std::move(reply->task);
  }

  // hospital-a: a NaN in the update.
  FlatVector nan_delta(kSize);
  nan_delta[500] = std::nanf("");
  OutgoingUpdate bad{"svc-test", 1, 0, 10, 0.5, 1.0, &nan_delta};
  absl::Status nan_status = clients["hospital-a"]->PushResult(bad);
  EXPECT_EQ(nan_status.code(), absl::StatusCode::kInvalidArgument)
      << nan_status;
  EXPECT_NE(std::string(nan_status.message()).find("NaN"), std::string::npos);

  // hospital-b: announces the right length but sends too few values; and a
  // separate attempt announcing the wrong length outright.
  FlatVector short_delta(kSize - 1);
  OutgoingUpdate wrong{"svc-test", 1, 0, 10, 0.5, 1.0, &short_delta};
  absl::Status wrong_status = clients["hospital-b"]->PushResult(wrong);
  EXPECT_EQ(wrong_status.code(), absl::StatusCode::kInvalidArgument)
      << wrong_status;
  EXPECT_NE(std::string(wrong_status.message()).find("999"), std::string::npos);

  // bank-c: a good update of +1 everywhere.
  FlatVector good(kSize);
  for (size_t i = 0; i < kSize; ++i) good[i] = 1.0f;
  OutgoingUpdate ok{"svc-test", 1, 0, 10, 0.5, 1.0, &good};
  ASSERT_TRUE(clients["bank-c"]->PushResult(ok).ok());

  // A replay of the accepted update is refused.
  EXPECT_EQ(clients["bank-c"]->PushResult(ok).code(),
            absl::StatusCode::kAlreadyExists);

  engine_->Tick();  // every selected client answered: the round closes now
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  std::shared_ptr<const FlatModel> global = engine_->global_model();
  FlatModel initial = MakeModel(kSize);
  for (size_t i = 0; i < kSize; ++i) {
    ASSERT_FLOAT_EQ(global->values[i], initial.values[i] + 1.0f) << i;
  }
}

// The metrics value in `text` of the series `line_start`, or -1.
double MetricValue(const std::string& text, const std::string& line_start) {
  const size_t at = text.find("\n" + line_start + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + line_start.size() + 2));
}

TEST_F(CoordinatorServiceTest, MetricsCountPayloadBytesAndRefusedUploads) {
  constexpr size_t kSize = 1000;
  CoordinatorMetrics metrics(CoordinatorMetrics::Options{});
  StartServer(kSize, 2, &metrics);
  std::vector<std::string> ids = {"hospital-a", "hospital-b"};
  std::map<std::string, std::unique_ptr<GrpcCoordinatorTransport>> clients;
  for (const std::string& id : ids) {
    clients[id] = Client(TlsConfig::FromDirectory(*certs_, id));
    ASSERT_TRUE(clients[id]->Register(10, engine_->GetContract().digest).ok());
  }
  engine_->Tick();
  for (const std::string& id : ids) {
    absl::StatusOr<FetchReply> reply = clients[id]->FetchTask("svc-test", 0);
    ASSERT_TRUE(reply.ok() && reply->task.has_value());
  }
  FlatVector nan_delta(kSize);
  nan_delta[7] = std::nanf("");
  OutgoingUpdate bad{"svc-test", 1, 0, 10, 0.5, 1.0, &nan_delta};
  EXPECT_FALSE(clients["hospital-a"]->PushResult(bad).ok());
  FlatVector good(kSize);
  OutgoingUpdate ok{"svc-test", 1, 0, 10, 0.5, 1.0, &good};
  ASSERT_TRUE(clients["hospital-b"]->PushResult(ok).ok());
  EXPECT_FALSE(clients["hospital-b"]->PushResult(ok).ok());  // a replay

  const std::string text = metrics.registry().Render();
  const std::string rejected = "fedlearn_updates_rejected_total{reason=";
  EXPECT_EQ(MetricValue(text, rejected + "\"malformed\"}"), 1) << text;
  EXPECT_EQ(MetricValue(text, rejected + "\"duplicate\"}"), 1) << text;
  // Two models of 1000 float32 out and two updates in (the replay is refused
  // at its header, before its values).
  EXPECT_GT(
      MetricValue(text, "fedlearn_rpc_sent_bytes_total{rpc=\"FetchTask\"}"),
      2 * 4 * kSize);
  EXPECT_GT(MetricValue(
                text, "fedlearn_rpc_received_bytes_total{rpc=\"PushResult\"}"),
            2 * 4 * kSize);
  EXPECT_GT(
      MetricValue(text, "fedlearn_rpc_received_bytes_total{rpc=\"Register\"}"),
      0);
  EXPECT_GT(
      MetricValue(text, "fedlearn_rpc_sent_bytes_total{rpc=\"Register\"}"), 0);
}

TEST_F(CoordinatorServiceTest, OversizedAndGarbageStreamsGetClearErrors) {
  constexpr size_t kSize = 100;
  StartServer(kSize, 1);
  auto good = Client(TlsConfig::FromDirectory(*certs_, "hospital-a"));
  ASSERT_TRUE(good->Register(10, engine_->GetContract().digest).ok());
  engine_->Tick();

  TlsConfig tls = TlsConfig::FromDirectory(*certs_, "hospital-a");
  auto material = LoadTlsMaterial(tls);
  ASSERT_TRUE(material.ok());
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = material->ca_cert_pem;
  ssl.pem_cert_chain = material->cert_pem;
  ssl.pem_private_key = std::string(material->key_pem.view());
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto stub = v1::Coordinator::NewStub(
      grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_.port),
                                grpc::SslCredentials(ssl), args));

  // Uploads are authorized only for a client that fetched its task.
  ASSERT_TRUE(good->FetchTask("svc-test", 0).ok());
  v1::UpdateHeader header;
  header.mutable_ref()->set_run_id("svc-test");
  header.mutable_ref()->set_round(1);
  header.set_num_examples(1);
  header.set_num_values(kSize);
  grpc::Status s = PushRaw(stub.get(), header,
                           {std::string(kSize * 4 + 4, '\0')});  // overflow
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_NE(s.error_message().find("overflows the announced 100"),
            std::string::npos)
      << s.error_message();

  // The header's shape is checked before anything else (even after the
  // client's answer): an absurd size is never allocated.
  header.set_num_values(uint64_t{1} << 40);
  s = PushRaw(stub.get(), header, {});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();

  // A protocol violation counts as the client's answer: the round closes
  // without waiting for the deadline and, with no valid update, is retried.
  struct RetryCounter : RoundListener {
    int retries = 0;
    absl::Status OnRoundCompleted(const RoundSummary&,
                                  const FlatModel&) override {
      return absl::OkStatus();
    }
    void OnRoundRetried(uint64_t, int, const std::string&) override {
      ++retries;
    }
  } counter;
  engine_->AddListener(&counter);
  engine_->Tick();
  EXPECT_EQ(counter.retries, 1);
}

TEST_F(CoordinatorServiceTest, HundredMegabyteModelCompletesARound) {
  constexpr size_t kSize = 25'000'000;  // 100 MB of float32
  StartServer(kSize, 1);
  auto client = Client(TlsConfig::FromDirectory(*certs_, "hospital-a"));
  ASSERT_TRUE(client->Register(5, engine_->GetContract().digest).ok());
  engine_->Tick();
  absl::StatusOr<FetchReply> reply = client->FetchTask("svc-test", 0);
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->task.has_value());
  ASSERT_EQ(reply->task->model.values.size(), kSize);
  EXPECT_FLOAT_EQ(reply->task->model.values[kSize - 1],
                  float((kSize - 1) % 97) * 0.01f);
  FlatVector delta(kSize);
  for (size_t i = 0; i < kSize; i += 4096) delta[i] = 2.0f;
  delta[kSize - 1] = -1.0f;
  OutgoingUpdate update{"svc-test", 1, 0, 5, 0.1, 1.0, &delta};
  ASSERT_TRUE(client->PushResult(update).ok());
  engine_->Tick();
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
  std::shared_ptr<const FlatModel> global = engine_->global_model();
  EXPECT_FLOAT_EQ(global->values[4096], float(4096 % 97) * 0.01f + 2.0f);
  EXPECT_FLOAT_EQ(global->values[kSize - 1],
                  float((kSize - 1) % 97) * 0.01f - 1.0f);
  EXPECT_FLOAT_EQ(global->values[1], 0.01f);
}

}  // namespace
}  // namespace fedlearn
