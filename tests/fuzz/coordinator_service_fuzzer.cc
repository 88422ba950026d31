// The coordinator's message handlers, in process and without a network: a
// fresh RoundEngine (16-float synthetic model, FakeClock) behind the real
// CoordinatorService, registered on a grpc::Server with no listening port
// and called through its in-process channel, in --insecure mode so the
// claimed client id is the identity. The input is a sequence of RPCs, clock
// steps and ticks (coordinator_ops.h); its first byte turns secure
// aggregation on. Every RPC must return (a deadline catches a handler that
// hangs) and the engine must stay consistent; sanitizers catch the rest.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/flat/flat_vector.h"
#include "grpcpp/grpcpp.h"
#include "server/coordinator_service.h"
#include "server/round/round_engine.h"
#include "tests/fuzz/coordinator_ops.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

namespace fedlearn {
namespace {

constexpr size_t kModelSize = 16;

std::string ClientId(int i) { return "site-" + std::to_string(i); }

FlatModel MakeModel() {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back(
      {"w", {static_cast<int64_t>(kModelSize)}, DType::kFloat32});
  model.values = FlatVector(kModelSize);
  for (size_t i = 0; i < kModelSize; ++i) model.values[i] = 0.01f * i;
  return model;
}

RoundEngineConfig MakeConfig(bool secure) {
  RoundEngineConfig config;
  config.run_id = "fuzz-run";
  config.num_rounds = 2;
  config.min_clients = 3;
  config.clients_per_round = 3;
  config.min_updates = secure ? 3 : 1;
  config.round_timeout = std::chrono::seconds(60);
  config.secagg.enabled = secure;
  config.secagg.phase_timeout = std::chrono::seconds(10);
  return config;
}

// One input's coordinator and what its honest clients last saw.
class Session {
 public:
  static std::unique_ptr<Session> Create(bool secure) {
    auto s = std::unique_ptr<Session>(new Session);
    absl::StatusOr<std::unique_ptr<RoundEngine>> engine = RoundEngine::Create(
        MakeConfig(secure), MakeModel(), 1, &s->clock_, nullptr);
    fuzz::FuzzCheck(engine.ok(), "the fuzz engine config is refused");
    s->engine_ = *std::move(engine);
    CoordinatorService::Options options;
    options.insecure = true;
    options.clock = &s->clock_;
    options.run_watchdog = false;
    // A fuzzed wait_ms must not hold a FetchTask or SecAggExchange until
    // its deadline (the fake clock never expires it): answer at once. The
    // long polls have their own tests (long_poll_*_test.cc).
    options.limits.max_fetch_wait = Duration::zero();
    s->service_ = std::make_unique<CoordinatorService>(s->engine_.get(),
                                                       std::move(options));
    grpc::ServerBuilder builder;  // no listening port: in-process only
    builder.RegisterService(s->service_.get());
    s->server_ = builder.BuildAndStart();
    fuzz::FuzzCheck(s->server_ != nullptr, "in-process server did not start");
    s->stub_ = v1::Coordinator::NewStub(
        s->server_->InProcessChannel(grpc::ChannelArguments()));
    s->digest_ = s->engine_->GetContract().digest;
    return s;
  }
  ~Session() {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }

  void Run(const fuzz::Op& op);

 private:
  Session() = default;
  void Prepare(grpc::ClientContext* context) const {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(5));
  }
  v1::RoundRef HonestRef(int client) const { return last_task_[client].ref(); }
  template <typename Request>
  bool Parse(const fuzz::Op& op, Request* request) const {
    return request->ParseFromArray(op.payload.data(),
                                   static_cast<int>(op.payload.size()));
  }
  void FetchTask(const fuzz::Op& op);
  void PushResult(const fuzz::Op& op);
  void PushChunks(const std::vector<v1::ResultChunk>& chunks);
  void HonestUpdate(const fuzz::Op& op);
  void SecAggExchange(const fuzz::Op& op);

  FakeClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<CoordinatorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  std::string digest_;
  v1::TaskHeader last_task_[fuzz::kClients];
};

void Session::Run(const fuzz::Op& op) {
  grpc::ClientContext context;
  Prepare(&context);
  const std::string id = ClientId(op.client);
  switch (op.kind) {
    case fuzz::OpKind::kGetContract: {
      v1::GetContractRequest request;
      v1::GetContractResponse response;
      if (!Parse(op, &request)) return;
      if (op.fix_up) request.set_claimed_client_id(id);
      (void)stub_->GetContract(&context, request, &response);
      return;
    }
    case fuzz::OpKind::kRegister: {
      v1::RegisterRequest request;
      v1::RegisterResponse response;
      if (!Parse(op, &request)) return;
      if (op.fix_up) {
        request.set_claimed_client_id(id);
        request.set_contract_digest(digest_);
        request.mutable_ref()->set_run_id(engine_->run_id());
      }
      (void)stub_->Register(&context, request, &response);
      return;
    }
    case fuzz::OpKind::kHeartbeat: {
      v1::HeartbeatRequest request;
      v1::HeartbeatResponse response;
      if (!Parse(op, &request)) return;
      if (op.fix_up) {
        request.set_claimed_client_id(id);
        *request.mutable_ref() = HonestRef(op.client);
      }
      (void)stub_->Heartbeat(&context, request, &response);
      return;
    }
    case fuzz::OpKind::kLeave: {
      v1::LeaveRequest request;
      v1::LeaveResponse response;
      if (!Parse(op, &request)) return;
      if (op.fix_up) {
        request.set_claimed_client_id(id);
        *request.mutable_ref() = HonestRef(op.client);
      }
      (void)stub_->Leave(&context, request, &response);
      return;
    }
    case fuzz::OpKind::kFetchTask:
      return FetchTask(op);
    case fuzz::OpKind::kPushResult:
      return PushResult(op);
    case fuzz::OpKind::kSecAggExchange:
      return SecAggExchange(op);
    case fuzz::OpKind::kTick:
      engine_->Tick();
      return;
    case fuzz::OpKind::kAdvanceClock: {
      uint32_t ms = 0;
      for (size_t b = 0; b < 4 && b < op.payload.size(); ++b) {
        ms |= uint32_t{static_cast<uint8_t>(op.payload[b])} << (8 * b);
      }
      clock_.Advance(std::chrono::milliseconds(ms % (10 * 60 * 1000)));
      return;
    }
    case fuzz::OpKind::kHonestUpdate:
      return HonestUpdate(op);
    default:
      return;
  }
}

void Session::FetchTask(const fuzz::Op& op) {
  v1::FetchTaskRequest request;
  if (!Parse(op, &request)) return;
  if (op.fix_up) {
    request.set_claimed_client_id(ClientId(op.client));
    *request.mutable_ref() = HonestRef(op.client);
  }
  grpc::ClientContext context;
  Prepare(&context);
  std::unique_ptr<grpc::ClientReader<v1::TaskChunk>> reader =
      stub_->FetchTask(&context, request);
  v1::TaskChunk chunk;
  size_t values = 0;
  while (reader->Read(&chunk)) {
    if (chunk.has_header()) last_task_[op.client] = chunk.header();
    values += chunk.model_data().size() / 4;
  }
  const grpc::Status status = reader->Finish();
  if (status.ok() && last_task_[op.client].num_values() > 0) {
    fuzz::FuzzCheck(values == 0 || values == kModelSize,
                    "a task streamed a model of the wrong size");
  }
}

void Session::PushChunks(const std::vector<v1::ResultChunk>& chunks) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::PushResultResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::ResultChunk>> writer =
      stub_->PushResult(&context, &response);
  for (const v1::ResultChunk& chunk : chunks) {
    if (!writer->Write(chunk)) break;
  }
  writer->WritesDone();
  (void)writer->Finish();
}

void Session::PushResult(const fuzz::Op& op) {
  std::vector<v1::ResultChunk> chunks;
  for (std::string_view frame : fuzz::SplitFrames(op.payload)) {
    v1::ResultChunk chunk;
    if (!chunk.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
      continue;
    }
    chunks.push_back(std::move(chunk));
  }
  if (op.fix_up && !chunks.empty() && chunks[0].has_header()) {
    v1::UpdateHeader* header = chunks[0].mutable_header();
    header->set_claimed_client_id(ClientId(op.client));
    *header->mutable_ref() = HonestRef(op.client);
  }
  PushChunks(chunks);
}

// A well-formed plaintext (or, in a secure round, masked) upload of the
// model's size, values from the payload: the engine's checks on content.
void Session::HonestUpdate(const fuzz::Op& op) {
  const v1::TaskHeader& task = last_task_[op.client];
  v1::ResultChunk head;
  v1::UpdateHeader* header = head.mutable_header();
  *header->mutable_ref() = task.ref();
  header->set_claimed_client_id(ClientId(op.client));
  header->set_num_examples(
      1 + (op.payload.empty() ? 0 : static_cast<uint8_t>(op.payload[0])));
  header->set_train_loss(0.5);
  const bool masked = task.has_secagg();
  const size_t length = masked ? engine_->MaskedInputLength() : kModelSize;
  const size_t width = masked ? engine_->MaskedValueBytes() : 4;
  header->set_num_values(length);
  header->set_masked(masked);
  if (masked) header->set_masked_value_bytes(width);
  std::string bytes(length * width, '\0');
  for (size_t i = 0; i < bytes.size() && !op.payload.empty(); ++i) {
    bytes[i] = op.payload[i % op.payload.size()];
  }
  v1::ResultChunk data;
  data.set_update_data(bytes);
  PushChunks({head, data});
}

void Session::SecAggExchange(const fuzz::Op& op) {
  v1::SecAggRequest request;
  v1::SecAggResponse response;
  if (!Parse(op, &request)) return;
  if (op.fix_up) {
    const v1::TaskHeader& task = last_task_[op.client];
    request.set_claimed_client_id(ClientId(op.client));
    *request.mutable_ref() = task.ref();
    if (request.has_message()) {
      request.mutable_message()->set_session_id(task.secagg().session_id());
      request.mutable_message()->set_round(task.secagg().round());
    }
  }
  grpc::ClientContext context;
  Prepare(&context);
  (void)stub_->SecAggExchange(&context, request, &response);
}

}  // namespace
}  // namespace fedlearn

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();  // the engine logs every join
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::unique_ptr<fedlearn::Session> session =
      fedlearn::Session::Create((data[0] & 1) != 0);
  fedlearn::fuzz::OpReader ops(
      std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  int count = 0;
  while (std::optional<fedlearn::fuzz::Op> op = ops.Next()) {
    if (++count > 64) break;
    session->Run(*op);
  }
  return 0;
}
