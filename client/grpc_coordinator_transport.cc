#include "client/grpc_coordinator_transport.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
#include "client/task_fetch_reader.h"
#include "common/transport/grpc_credentials.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "common/wire/masked_value_codec.h"
#include "common/wire/proto_conversion.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace fedlearn {

class GrpcCoordinatorTransport::ScopedCall {
 public:
  ScopedCall(GrpcCoordinatorTransport* owner, std::chrono::milliseconds timeout)
      : owner_(owner) {
    context_.set_deadline(std::chrono::system_clock::now() + timeout);
    std::lock_guard<std::mutex> lock(owner_->mu_);
    if (owner_->cancelled_) context_.TryCancel();
    owner_->in_flight_.insert(&context_);
  }
  ~ScopedCall() {
    std::lock_guard<std::mutex> lock(owner_->mu_);
    owner_->in_flight_.erase(&context_);
  }
  grpc::ClientContext* context() { return &context_; }

 private:
  GrpcCoordinatorTransport* owner_;
  grpc::ClientContext context_;
};

namespace {

// 128 random bits, hex: tells two processes with one identity apart.
std::string NewSessionId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    std::memset(bytes, 0, sizeof(bytes));  // the check only weakens
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcCoordinatorTransport>>
GrpcCoordinatorTransport::Create(GrpcTransportOptions options) {
  ASSIGN_OR_RETURN(options.target, ParseCoordinatorTarget(options.target));
  absl::Status own_chain;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 << 20);
  args.SetMaxSendMessageSize(8 << 20);
  // Reconnect quickly once the coordinator is back; the daemon adds its own
  // backoff with jitter on top. A call made while the channel waits out its
  // reconnect backoff fails at once, so this cap bounds how late a client
  // returns to a restarted coordinator as much as the daemon's in-run cap
  // (client/client_daemon.h, 2 s) does: keep the two equal.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // A channel whose connection attempts all failed asks its resolver again
  // and, in this gRPC, reconnects only once the answer comes; the DNS
  // resolver answers at most every 30 s by default, which held clients away
  // from a restarted coordinator for 30 s or more (issue 13).
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 1000);
  if (options.tls.insecure) {
    spdlog::warn("INSECURE MODE: talking plaintext to {} and claiming id '{}'",
                 options.target, options.claimed_client_id);
    credentials = grpc::InsecureChannelCredentials();
  } else {
    ASSIGN_OR_RETURN(TlsMaterial material, LoadTlsMaterial(options.tls));
    own_chain = VerifyOwnCertificateChain(options.tls, material);
    if (!own_chain.ok()) spdlog::warn("{}", own_chain.message());
    credentials = MutualTlsChannelCredentials(material);
    if (!options.server_name_override.empty()) {
      args.SetSslTargetNameOverride(options.server_name_override);
    }
  }
  auto channel = grpc::CreateCustomChannel(options.target, credentials, args);
  auto stub = v1::Coordinator::NewStub(channel);
  const std::string dialled_name = options.server_name_override.empty()
                                       ? HostOfTarget(options.target)
                                       : options.server_name_override;
  std::unique_ptr<GrpcCoordinatorTransport> transport(
      new GrpcCoordinatorTransport(std::move(options), std::move(stub)));
  transport->dialled_name_ = dialled_name;
  transport->own_chain_ = std::move(own_chain);
  return transport;
}

absl::Status GrpcCoordinatorTransport::FromGrpc(const grpc::Status& status,
                                                absl::string_view what) const {
  return DescribeRpcFailure(status, what, dialled_name_, own_chain_);
}

GrpcCoordinatorTransport::GrpcCoordinatorTransport(
    GrpcTransportOptions options, std::unique_ptr<v1::Coordinator::Stub> stub)
    : options_(std::move(options)),
      stub_(std::move(stub)),
      session_id_(NewSessionId()) {}

void GrpcCoordinatorTransport::Count(size_t sent_bytes,
                                     size_t received_bytes) const {
  if (options_.traffic != nullptr && (sent_bytes > 0 || received_bytes > 0)) {
    options_.traffic->OnTraffic(sent_bytes, received_bytes);
  }
}

void GrpcCoordinatorTransport::CancelInFlight() {
  std::set<std::shared_ptr<grpc::ClientContext>> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    for (grpc::ClientContext* context : in_flight_) context->TryCancel();
    waiting = async_in_flight_;
  }
  // Outside the lock: a cancelled callback call may finish on this thread.
  for (const auto& context : waiting) context->TryCancel();
}

GrpcCoordinatorTransport::~GrpcCoordinatorTransport() {
  CancelInFlight();
  {
    std::unique_lock<std::mutex> lock(mu_);
    async_done_.wait(lock, [this] { return async_in_flight_.empty(); });
  }
  LiveContexts& live = *live_contexts_;
  std::unique_lock<std::mutex> lock(live.mu);
  live.gone.wait(lock, [&live] { return live.count == 0; });
}

std::shared_ptr<grpc::ClientContext>
GrpcCoordinatorTransport::NewAsyncContext() {
  std::shared_ptr<LiveContexts> live = live_contexts_;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    ++live->count;
  }
  return std::shared_ptr<grpc::ClientContext>(
      new grpc::ClientContext, [live](grpc::ClientContext* context) {
        delete context;
        std::lock_guard<std::mutex> lock(live->mu);
        if (--live->count == 0) live->gone.notify_all();
      });
}

bool GrpcCoordinatorTransport::FetchTaskAsync(
    const std::string& run_id, uint64_t last_round,
    std::function<void(absl::StatusOr<FetchReply>)> done) {
  if (options_.fetch_wait.count() <= 0) return false;
  std::shared_ptr<grpc::ClientContext> context = NewAsyncContext();
  // The coordinator answers within the wait; the transfer may follow.
  context->set_deadline(std::chrono::system_clock::now() + options_.fetch_wait +
                        options_.transfer_timeout);
  v1::FetchTaskRequest request;
  request.mutable_ref()->set_run_id(run_id);
  request.mutable_ref()->set_round(last_round);
  request.set_claimed_client_id(options_.claimed_client_id);
  request.set_wait_ms(static_cast<uint32_t>(options_.fetch_wait.count()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) context->TryCancel();
    async_in_flight_.insert(context);
  }
  const size_t sent = request.ByteSizeLong();
  TaskFetchReader::Start(stub_.get(), context, std::move(request),
                         [this, context, sent, done = std::move(done)](
                             TaskFetchReader::Outcome outcome) {
                           Count(sent, outcome.received_bytes);
                           absl::StatusOr<FetchReply> reply =
                               std::move(outcome.reply);
                           if (!outcome.protocol.ok()) {
                             reply = outcome.protocol;
                           } else if (!outcome.status.ok()) {
                             reply = FromGrpc(outcome.status, "fetch task");
                           }
                           done(std::move(reply));
                           // Last: the destructor may run as soon as this set
                           // is empty.
                           std::lock_guard<std::mutex> lock(mu_);
                           async_in_flight_.erase(context);
                           async_done_.notify_all();
                         });
  return true;
}

absl::StatusOr<ReceivedContract> GrpcCoordinatorTransport::GetContract() {
  ScopedCall call(this, options_.rpc_timeout);
  v1::GetContractRequest request;
  request.set_claimed_client_id(options_.claimed_client_id);
  v1::GetContractResponse response;
  grpc::Status status = stub_->GetContract(call.context(), request, &response);
  if (!status.ok()) return FromGrpc(status, "get contract");
  Count(request.ByteSizeLong(), response.ByteSizeLong());
  ReceivedContract out;
  out.contract = std::move(*response.mutable_contract());
  out.digest = response.contract_digest();
  return out;
}

absl::StatusOr<RegisterReply> GrpcCoordinatorTransport::Register(
    uint64_t num_examples, const std::string& contract_digest) {
  ScopedCall call(this, options_.rpc_timeout);
  v1::RegisterRequest request;
  request.set_client_version("fedlearn-client/0.1");
  request.set_claimed_client_id(options_.claimed_client_id);
  request.set_num_examples(num_examples);
  request.set_contract_digest(contract_digest);
  request.set_session_id(session_id_);
  v1::RegisterResponse response;
  grpc::Status status = stub_->Register(call.context(), request, &response);
  if (!status.ok()) return FromGrpc(status, "register");
  Count(request.ByteSizeLong(), response.ByteSizeLong());
  RegisterReply reply;
  reply.run_id = response.ref().run_id();
  reply.round = response.ref().round();
  reply.client_id = response.client_id();
  reply.heartbeat_interval_ms = response.heartbeat_interval_ms();
  return reply;
}

absl::Status GrpcCoordinatorTransport::Leave(bool permanent,
                                             const std::string& reason) {
  // Not a ScopedCall: a shutdown has already cancelled those.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(3));
  v1::LeaveRequest request;
  request.set_claimed_client_id(options_.claimed_client_id);
  request.set_session_id(session_id_);
  request.set_permanent(permanent);
  request.set_reason(reason.substr(0, 4096));
  v1::LeaveResponse response;
  grpc::Status status = stub_->Leave(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, "leave");
  Count(request.ByteSizeLong(), response.ByteSizeLong());
  return absl::OkStatus();
}

absl::StatusOr<FetchReply> GrpcCoordinatorTransport::FetchTask(
    const std::string& run_id, uint64_t last_round) {
  ScopedCall call(this, options_.transfer_timeout);
  v1::FetchTaskRequest request;
  request.mutable_ref()->set_run_id(run_id);
  request.mutable_ref()->set_round(last_round);
  request.set_claimed_client_id(options_.claimed_client_id);
  std::unique_ptr<grpc::ClientReader<v1::TaskChunk>> reader =
      stub_->FetchTask(call.context(), request);

  FetchReply reply;
  v1::TaskChunk chunk;
  absl::Status protocol_error = absl::OkStatus();
  if (!reader->Read(&chunk)) {
    return FromGrpc(reader->Finish(), "fetch task");
  }
  Count(request.ByteSizeLong(), chunk.ByteSizeLong());
  if (chunk.has_no_task()) {
    FillNoTask(chunk.no_task(), &reply);
    while (reader->Read(&chunk)) {
      protocol_error = absl::DataLossError("data after NoTask");
    }
  } else if (chunk.has_header()) {
    // A copy: the loop below reuses `chunk`, which would free the header a
    // reference into it points at.
    const v1::TaskHeader header = chunk.header();
    ASSIGN_OR_RETURN(ReceivedTask task, TaskFromHeader(header));
    size_t received = 0;
    while (reader->Read(&chunk)) {
      Count(0, chunk.ByteSizeLong());
      if (!chunk.has_model_data() || chunk.model_data().size() % 4 != 0 ||
          chunk.model_data().size() / 4 > header.num_values() - received) {
        protocol_error = absl::DataLossError("malformed model stream");
        call.context()->TryCancel();
        break;
      }
      const size_t n = chunk.model_data().size() / 4;
      RETURN_IF_ERROR(DecodeFloat32LE(
          chunk.model_data(), task.model.values.span().subspan(received, n)));
      received += n;
    }
    if (protocol_error.ok() && received != header.num_values()) {
      protocol_error = absl::DataLossError(
          absl::StrCat("model stream ended after ", received, " of ",
                       header.num_values(), " values"));
    }
    reply.task = std::move(task);
  } else {
    protocol_error = absl::DataLossError(
        "task stream starts with neither header nor NoTask");
    call.context()->TryCancel();
  }
  grpc::Status finish = reader->Finish();
  if (!protocol_error.ok()) return protocol_error;
  if (!finish.ok()) return FromGrpc(finish, "fetch task");
  return reply;
}

absl::Status GrpcCoordinatorTransport::PushStream(
    v1::ResultChunk header, size_t num_values,
    const std::function<absl::Status(size_t, size_t, std::string*)>& encode) {
  ScopedCall call(this, options_.transfer_timeout);
  v1::PushResultResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::ResultChunk>> writer =
      stub_->PushResult(call.context(), &response);
  bool open = writer->Write(header);
  if (open) Count(header.ByteSizeLong(), 0);
  absl::Status encoded = absl::OkStatus();
  // One chunk is encoded at a time: the model is never copied whole.
  for (size_t offset = 0; open && offset < num_values; offset += kChunkValues) {
    v1::ResultChunk data;
    encoded = encode(offset, std::min(kChunkValues, num_values - offset),
                     data.mutable_update_data());
    if (!encoded.ok()) {
      // Whole or not at all: the coordinator never accepts a cut stream.
      call.context()->TryCancel();
      break;
    }
    open = writer->Write(data);
    if (open) Count(data.ByteSizeLong(), 0);
  }
  if (open && encoded.ok()) writer->WritesDone();
  grpc::Status status = writer->Finish();
  RETURN_IF_ERROR(encoded);
  if (!status.ok()) return FromGrpc(status, "push result");
  Count(0, response.ByteSizeLong());
  if (!response.accepted()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "coordinator did not accept the upload: ", response.message()));
  }
  return absl::OkStatus();
}

absl::Status GrpcCoordinatorTransport::PushResult(
    const OutgoingUpdate& update) {
  if (update.delta == nullptr) {
    return absl::InvalidArgumentError("no delta to push");
  }
  v1::ResultChunk chunk;
  v1::UpdateHeader* header = chunk.mutable_header();
  header->mutable_ref()->set_run_id(update.run_id);
  header->mutable_ref()->set_round(update.round);
  header->mutable_ref()->set_model_version(update.model_version);
  header->set_num_examples(update.num_examples);
  header->set_num_values(update.delta->size());
  header->set_train_loss(update.train_loss);
  header->set_train_seconds(update.train_seconds);
  header->set_claimed_client_id(options_.claimed_client_id);
  for (uint64_t v : update.eval_report) header->add_eval_report(v);
  const absl::Span<const float> values = update.delta->span();
  return PushStream(std::move(chunk), values.size(),
                    [&](size_t offset, size_t n, std::string* out) {
                      AppendFloat32LE(values.subspan(offset, n), out);
                      return absl::OkStatus();
                    });
}

absl::Status GrpcCoordinatorTransport::PushMaskedInput(
    const std::string& run_id, uint64_t round, uint64_t model_version,
    absl::Span<const uint32_t> masked, int value_bytes,
    absl::Span<const uint64_t> clear_eval_report,
    const std::string& secagg_session_id) {
  RETURN_IF_ERROR(CheckMaskedValueWidth(value_bytes));
  v1::ResultChunk chunk;
  v1::UpdateHeader* header = chunk.mutable_header();
  header->mutable_ref()->set_run_id(run_id);
  header->mutable_ref()->set_round(round);
  header->mutable_ref()->set_model_version(model_version);
  header->set_num_values(masked.size());
  header->set_claimed_client_id(options_.claimed_client_id);
  header->set_masked(true);
  header->set_masked_value_bytes(static_cast<uint32_t>(value_bytes));
  header->set_secagg_session_id(secagg_session_id);
  header->mutable_eval_report()->Add(clear_eval_report.begin(),
                                     clear_eval_report.end());
  return PushStream(std::move(chunk), masked.size(),
                    [&](size_t offset, size_t n, std::string* out) {
                      return AppendMaskedValues(masked.subspan(offset, n),
                                                value_bytes, out);
                    });
}

absl::StatusOr<SecAggExchangeReply> GrpcCoordinatorTransport::SecAggExchange(
    const std::string& run_id, uint64_t round,
    const v1::SecAggClientMessage* message) {
  ScopedCall call(this, options_.rpc_timeout);
  v1::SecAggRequest request = SecAggRequestFor(run_id, round);
  if (message != nullptr) *request.mutable_message() = *message;
  v1::SecAggResponse response;
  grpc::Status status =
      stub_->SecAggExchange(call.context(), request, &response);
  if (!status.ok()) return FromGrpc(status, "secure aggregation");
  Count(request.ByteSizeLong(), response.ByteSizeLong());
  return ReplyFromResponse(std::move(response));
}

bool GrpcCoordinatorTransport::SecAggPollAsync(
    const std::string& run_id, uint64_t round, std::chrono::milliseconds wait,
    std::function<void(absl::StatusOr<SecAggExchangeReply>)> done) {
  // The call's messages live until its callback ran; the context is shared
  // with async_in_flight_ so CancelInFlight can reach it.
  struct Call {
    v1::SecAggRequest request;
    v1::SecAggResponse response;
  };
  auto call = std::make_shared<Call>();
  std::shared_ptr<grpc::ClientContext> context = NewAsyncContext();
  context->set_deadline(std::chrono::system_clock::now() + wait +
                        options_.rpc_timeout);
  call->request = SecAggRequestFor(run_id, round);
  call->request.set_wait_ms(static_cast<uint32_t>(
      std::max<int64_t>(0, std::min<int64_t>(wait.count(), UINT32_MAX))));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) context->TryCancel();
    async_in_flight_.insert(context);
  }
  stub_->async()->SecAggExchange(
      context.get(), &call->request, &call->response,
      [this, call, context, done = std::move(done)](grpc::Status status) {
        absl::StatusOr<SecAggExchangeReply> reply;
        if (status.ok()) {
          Count(call->request.ByteSizeLong(), call->response.ByteSizeLong());
          reply = ReplyFromResponse(std::move(call->response));
        } else {
          reply = FromGrpc(status, "secure aggregation");
        }
        done(std::move(reply));
        // Last: the destructor may run as soon as this set is empty.
        std::lock_guard<std::mutex> lock(mu_);
        async_in_flight_.erase(context);
        async_done_.notify_all();
      });
  return true;
}

v1::SecAggRequest GrpcCoordinatorTransport::SecAggRequestFor(
    const std::string& run_id, uint64_t round) const {
  v1::SecAggRequest request;
  request.mutable_ref()->set_run_id(run_id);
  request.mutable_ref()->set_round(round);
  request.set_claimed_client_id(options_.claimed_client_id);
  return request;
}

SecAggExchangeReply GrpcCoordinatorTransport::ReplyFromResponse(
    v1::SecAggResponse response) {
  SecAggExchangeReply result;
  if (response.has_message()) {
    result.message = std::move(*response.mutable_message());
  }
  result.retry_after_ms = response.retry_after_ms();
  result.aborted = response.aborted();
  result.reason = response.reason();
  result.waited = response.waited();
  return result;
}

absl::StatusOr<bool> GrpcCoordinatorTransport::Heartbeat(
    const std::string& run_id, std::string_view activity) {
  ScopedCall call(this, options_.rpc_timeout);
  v1::HeartbeatRequest request;
  request.mutable_ref()->set_run_id(run_id);
  request.set_claimed_client_id(options_.claimed_client_id);
  request.set_activity(std::string(activity));
  v1::HeartbeatResponse response;
  grpc::Status status = stub_->Heartbeat(call.context(), request, &response);
  if (!status.ok()) return FromGrpc(status, "heartbeat");
  Count(request.ByteSizeLong(), response.ByteSizeLong());
  return response.run_finished();
}

}  // namespace fedlearn
