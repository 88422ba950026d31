// Message and stream discipline of the coordinator's gRPC service, on a real
// port (127.0.0.1, OS-chosen) with real certificates: stalled and silent
// streams, per-identity caps, rate limits, chunk and message sizes, idle
// timeouts, and what reaches logs. No LibTorch: updates are synthetic.
#include <dirent.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "client/grpc_coordinator_transport.h"
#include "common/tls/cert_authority.h"
#include "common/util/log.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "spdlog/sinks/ostream_sink.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr size_t kSize = 1000;

FlatModel MakeModel(size_t n) {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back(
      {"w", {static_cast<int64_t>(n)}, DType::kFloat32});
  model.values = FlatVector(n);
  return model;
}

int ThreadCount() {
  int n = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
  closedir(dir);
  return n;
}

// One client-streaming call the test keeps open (and cancels at the end).
struct OpenUpload {
  std::unique_ptr<grpc::ClientContext> context;
  v1::PushResultResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::ResultChunk>> writer;
};

v1::UpdateHeader Header(const std::string& run_id, uint64_t num_values) {
  v1::UpdateHeader header;
  header.mutable_ref()->set_run_id(run_id);
  header.mutable_ref()->set_round(1);
  header.set_num_examples(1);
  header.set_num_values(num_values);
  return header;
}

class ServiceDisciplineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new std::string(testing::TempDir() + "/discipline_test_" +
                             std::to_string(getpid()));
    std::filesystem::remove_all(*certs_);
    ProvisionOptions options;
    options.out_dir = *certs_;
    options.client_ids = {"hospital-a", "hospital-b", "mallory"};
    ASSERT_TRUE(ProvisionDirectory(options).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*certs_);
    delete certs_;
  }

  void StartServer(int clients_per_round, CoordinatorService::Options options,
                   size_t model_size = kSize) {
    RoundEngineConfig config;
    config.secagg.enabled = false;
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
    service_ = std::make_unique<CoordinatorService>(engine_.get(), options);
    auto server = StartGrpcServer("127.0.0.1:0",
                                  TlsConfig::FromDirectory(*certs_, "server"),
                                  service_.get(), options.limits);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    for (OpenUpload& u : uploads_) u.context->TryCancel();
    uploads_.clear();
    if (server_.server) server_.server->Shutdown();
  }

  std::unique_ptr<GrpcCoordinatorTransport> Client(const std::string& id) {
    GrpcTransportOptions options;
    options.target = "127.0.0.1:" + std::to_string(server_.port);
    options.server_name_override = "localhost";
    options.tls = TlsConfig::FromDirectory(*certs_, id);
    options.rpc_timeout = std::chrono::seconds(10);
    options.transfer_timeout = std::chrono::seconds(5);
    auto transport = GrpcCoordinatorTransport::Create(options);
    EXPECT_TRUE(transport.ok()) << transport.status();
    return transport.ok() ? *std::move(transport) : nullptr;
  }

  // A stub on its own connection when `own_connection` (channels with equal
  // arguments otherwise share one).
  std::unique_ptr<v1::Coordinator::Stub> RawStub(const std::string& id,
                                                 bool own_connection = false) {
    auto material = LoadTlsMaterial(TlsConfig::FromDirectory(*certs_, id));
    EXPECT_TRUE(material.ok());
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = material->ca_cert_pem;
    ssl.pem_cert_chain = material->cert_pem;
    ssl.pem_private_key = std::string(material->key_pem.view());
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return v1::Coordinator::NewStub(
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_.port),
                                  grpc::SslCredentials(ssl), args));
  }

  // Opens an upload and, if `header` is set, sends it; then goes silent.
  OpenUpload& Open(v1::Coordinator::Stub* stub,
                   const v1::UpdateHeader* header) {
    OpenUpload u;
    u.context = std::make_unique<grpc::ClientContext>();
    u.context->set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(60));
    u.writer = stub->PushResult(u.context.get(), &u.response);
    if (header != nullptr) {
      v1::ResultChunk chunk;
      *chunk.mutable_header() = *header;
      u.writer->Write(chunk);
    }
    uploads_.push_back(std::move(u));
    return uploads_.back();
  }

  // Registers `ids`, starts the round and fetches each one's task.
  void RegisterAndFetch(const std::vector<std::string>& ids) {
    for (const std::string& id : ids) {
      clients_[id] = Client(id);
      ASSERT_TRUE(
          clients_[id]->Register(10, engine_->GetContract().digest).ok());
    }
    engine_->Tick();
    for (const std::string& id : ids) {
      absl::StatusOr<FetchReply> reply = clients_[id]->FetchTask("svc-test", 0);
      ASSERT_TRUE(reply.ok()) << reply.status();
      ASSERT_TRUE(reply->task.has_value()) << reply->reason;
    }
  }

  static std::string* certs_;
  SystemClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<CoordinatorService> service_;
  RunningServer server_;
  std::map<std::string, std::unique_ptr<GrpcCoordinatorTransport>> clients_;
  std::list<OpenUpload> uploads_;
};

std::string* ServiceDisciplineTest::certs_ = nullptr;

// One unary call per stub, so each connection is up before threads are
// counted.
void GetContractWarmUp(
    const std::vector<std::unique_ptr<v1::Coordinator::Stub>>& stubs) {
  for (const auto& stub : stubs) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::GetContractRequest request;
    v1::GetContractResponse response;
    EXPECT_TRUE(stub->GetContract(&context, request, &response).ok());
  }
}

// Pushes header + chunks on one stream and returns the final status.
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

TEST_F(ServiceDisciplineTest,
       StalledUploadsOfAnUnregisteredClientDoNotBlockHonestUploads) {
  CoordinatorService::Options options;
  ASSERT_EQ(options.limits.max_concurrent_uploads, 4);
  StartServer(1, options);
  // mallory holds a valid certificate but never registered: four streams
  // (as many as there are upload buffers), a valid header, then silence.
  auto mallory = RawStub("mallory");
  const v1::UpdateHeader header = Header("svc-test", kSize);
  for (int i = 0; i < 4; ++i) Open(mallory.get(), &header);

  RegisterAndFetch({"hospital-a"});
  FlatVector delta(kSize);
  delta[0] = 1.0f;
  OutgoingUpdate update{"svc-test", 1, 0, 10, 0.5, 1.0, &delta};
  absl::Status pushed = clients_["hospital-a"]->PushResult(update);
  ASSERT_TRUE(pushed.ok()) << pushed;
  engine_->Tick();
  EXPECT_EQ(engine_->phase(), RoundEngine::Phase::kFinished);
}

TEST_F(ServiceDisciplineTest,
       TwoHundredSilentStreamsDoNotCostTwoHundredThreads) {
  CoordinatorService::Options options;
  options.limits.max_concurrent_uploads = 200;
  options.limits.max_uploads_per_identity = 200;
  options.limits.rpc_burst = 1000;
  StartServer(1, options);
  RegisterAndFetch({"hospital-a"});
  // 20 connections of 10 streams (under max_streams_per_connection).
  std::vector<std::unique_ptr<v1::Coordinator::Stub>> stubs;
  for (int c = 0; c < 20; ++c) stubs.push_back(RawStub("hospital-a", true));
  GetContractWarmUp(stubs);
  const int before = ThreadCount();
  const v1::UpdateHeader header = Header("svc-test", kSize);
  for (int i = 0; i < 200; ++i) {
    // Half send a valid header (and are admitted: hospital-a may upload),
    // half never send anything.
    Open(stubs[i % 20].get(), i % 2 == 0 ? &header : nullptr);
  }
  for (int i = 0; i < 500 && service_->open_streams() < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service_->open_streams(), 200);
  const int after = ThreadCount();
  std::printf("threads: %d before, %d with 200 silent streams\n", before,
              after);
  EXPECT_LT(after - before, 30) << before << " -> " << after;
}

TEST_F(ServiceDisciplineTest, IdleStreamsAreEndedAfterTheIdleTimeout) {
  CoordinatorService::Options options;
  options.limits.stream_idle_timeout = std::chrono::milliseconds(300);
  options.limits.watchdog_period = std::chrono::milliseconds(50);
  StartServer(1, options);
  RegisterAndFetch({"hospital-a"});
  auto stub = RawStub("hospital-a");
  const v1::UpdateHeader header = Header("svc-test", kSize);
  OpenUpload& silent = Open(stub.get(), nullptr);
  OpenUpload& stalled = Open(stub.get(), &header);
  for (OpenUpload* u : {&silent, &stalled}) {
    grpc::Status s = u->writer->Finish();  // the client's deadline is 60 s
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("no message for 300 ms"));
  }
  // The stalled upload gave its buffer back: an honest push goes through.
  FlatVector delta(kSize);
  OutgoingUpdate update{"svc-test", 1, 0, 10, 0.5, 1.0, &delta};
  EXPECT_TRUE(clients_["hospital-a"]->PushResult(update).ok());
}

TEST_F(ServiceDisciplineTest, StalledDownloadIsEndedAndCountsAgainstTheCap) {
  CoordinatorService::Options options;
  options.limits.stream_idle_timeout = std::chrono::milliseconds(300);
  options.limits.watchdog_period = std::chrono::milliseconds(50);
  options.limits.max_downloads_per_identity = 1;
  constexpr size_t kLarge = 16 << 20;  // 64 MiB: more than the windows hold
  StartServer(1, options, kLarge);
  auto client = Client("hospital-a");
  ASSERT_TRUE(client->Register(10, engine_->GetContract().digest).ok());
  engine_->Tick();
  auto stub = RawStub("hospital-a");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  v1::FetchTaskRequest request;
  auto reader = stub->FetchTask(&context, request);
  v1::TaskChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  ASSERT_TRUE(chunk.has_header());
  // This client reads no further. A second download of the same identity
  // is refused while the first is open.
  grpc::ClientContext second;
  second.set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(10));
  auto other = stub->FetchTask(&second, request);
  while (other->Read(&chunk)) {
  }
  grpc::Status refused = other->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("max_downloads_per_identity"));
  // The stalled download is ended by the watchdog.
  for (int i = 0; i < 1000 && service_->open_streams() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service_->open_streams(), 0);
  context.TryCancel();
  reader->Finish();
}

TEST_F(ServiceDisciplineTest, UploadStreamsPerIdentityAreCapped) {
  CoordinatorService::Options options;
  options.limits.max_uploads_per_identity = 2;
  StartServer(1, options);
  RegisterAndFetch({"hospital-a"});
  auto stub = RawStub("hospital-a");
  const v1::UpdateHeader header = Header("svc-test", kSize);
  Open(stub.get(), &header);
  Open(stub.get(), &header);
  for (int i = 0; i < 200 && service_->open_streams() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  grpc::Status third = PushRaw(stub.get(), header, {});
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << third.error_message();
  EXPECT_THAT(third.error_message(), HasSubstr("max_uploads_per_identity"));
}

TEST_F(ServiceDisciplineTest, BusyUploadBuffersAreRefusedWithARetryHint) {
  CoordinatorService::Options options;
  options.limits.max_concurrent_uploads = 1;
  options.limits.upload_retry_after_ms = 1500;
  StartServer(2, options);
  RegisterAndFetch({"hospital-a", "hospital-b"});
  auto a = RawStub("hospital-a");
  const v1::UpdateHeader header = Header("svc-test", kSize);
  Open(a.get(), &header);  // holds the only buffer
  for (int i = 0; i < 200 && service_->open_streams() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto b = RawStub("hospital-b");
  grpc::Status refused = PushRaw(b.get(), header, {});
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("retry in 1500 ms"));
}

TEST_F(ServiceDisciplineTest, RpcRateIsLimitedPerIdentity) {
  FakeClock frozen;  // no refill during the test
  CoordinatorService::Options options;
  options.clock = &frozen;
  options.limits.rpc_rate_per_second = 1;
  options.limits.rpc_burst = 3;
  StartServer(1, options);
  auto client = Client("hospital-a");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->GetContract().ok()) << i;
  absl::StatusOr<ReceivedContract> refused = client->GetContract();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted)
      << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("rate limit"));
  // Another identity has its own bucket.
  EXPECT_TRUE(Client("hospital-b")->GetContract().ok());
  frozen.Advance(std::chrono::seconds(1));
  EXPECT_TRUE(client->GetContract().ok());
}

TEST_F(ServiceDisciplineTest, ChunksPerStreamAreCapped) {
  CoordinatorService::Options options;
  options.limits.max_chunks_per_stream = 3;  // header + 2 chunks
  StartServer(1, options);
  RegisterAndFetch({"hospital-a"});
  auto stub = RawStub("hospital-a");
  const std::string quarter(kSize, '\0');  // 250 float32 values
  grpc::Status s = PushRaw(stub.get(), Header("svc-test", kSize),
                           {quarter, quarter, quarter, quarter});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("max_chunks_per_stream"));
}

TEST_F(ServiceDisciplineTest, OversizedMessageIsRefusedByTheServer) {
  CoordinatorService::Options options;
  options.limits.max_message_bytes = 64 << 10;
  StartServer(1, options);
  RegisterAndFetch({"hospital-a"});
  auto stub = RawStub("hospital-a");
  grpc::Status s = PushRaw(stub.get(), Header("svc-test", kSize),
                           {std::string(128 << 10, '\0')});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
}

TEST_F(ServiceDisciplineTest, ThreeByteChunkIsReportedAsNotWholeValues) {
  StartServer(1, {});
  RegisterAndFetch({"hospital-a"});
  auto stub = RawStub("hospital-a");
  grpc::Status s = PushRaw(stub.get(), Header("svc-test", kSize), {"abc"});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_THAT(s.error_message(),
              HasSubstr("3 bytes is not a whole number of 4-byte float32"));
  EXPECT_THAT(s.error_message(), Not(HasSubstr("overflows")));
}

TEST_F(ServiceDisciplineTest, HugeRunIdIsNeitherLoggedNorEchoedVerbatim) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(sink);
  StartServer(1, {});
  RegisterAndFetch({"hospital-a"});
  auto stub = RawStub("hospital-a");
  const std::string run_id = std::string(2 << 20, 'A') + "\nFORGED LINE";
  v1::UpdateHeader masked = Header(run_id, kSize);
  masked.set_masked(true);
  masked.set_masked_value_bytes(4);
  grpc::Status m = PushRaw(stub.get(), masked, {std::string(16, '\0')});
  grpc::Status p =
      PushRaw(stub.get(), Header(run_id, kSize), {std::string(4000, '\0')});
  spdlog::default_logger()->flush();
  spdlog::default_logger()->sinks().pop_back();
  const std::string a_run(300, 'A');
  for (const grpc::Status& s : {m, p}) {
    EXPECT_FALSE(s.ok());
    EXPECT_LT(s.error_message().size(), 1000u) << s.error_message().size();
    EXPECT_THAT(s.error_message(), Not(HasSubstr(a_run)));
    EXPECT_THAT(s.error_message(), Not(HasSubstr("\nFORGED")));
  }
  EXPECT_THAT(log.str(), Not(HasSubstr(a_run)));
  EXPECT_THAT(log.str(), Not(HasSubstr("\nFORGED")));
}

}  // namespace
}  // namespace fedlearn
