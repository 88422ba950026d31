// Mallory's raw fedlearn.v1 calls (tests/server/hostile_harness.h).
#include <cstring>

#include "tests/server/hostile_harness.h"

namespace fedlearn::hostile {
namespace {

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(5);
}

}  // namespace

RawClient::RawClient(std::shared_ptr<grpc::Channel> channel,
                     std::string session_id)
    : stub_(v1::Coordinator::NewStub(std::move(channel))),
      session_id_(std::move(session_id)) {}

grpc::Status RawClient::GetContract(v1::GetContractResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::GetContractResponse ignored;
  return stub_->GetContract(&context, v1::GetContractRequest(),
                            response ? response : &ignored);
}

grpc::Status RawClient::Register(
    const std::string& digest,
    const std::function<void(v1::RegisterRequest&)>& edit,
    v1::RegisterResponse* response) {
  v1::RegisterRequest request;
  request.mutable_ref()->set_run_id(kRunId);
  request.set_num_examples(kMalloryExamples);
  request.set_contract_digest(digest);
  request.set_session_id(session_id_);
  if (edit) edit(request);
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::RegisterResponse ignored;
  return stub_->Register(&context, request, response ? response : &ignored);
}

grpc::Status RawClient::Fetch(v1::TaskHeader* header, v1::NoTask* no_task) {
  v1::FetchTaskRequest request;
  request.mutable_ref()->set_run_id(kRunId);
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  auto reader = stub_->FetchTask(&context, request);
  v1::TaskChunk chunk;
  while (reader->Read(&chunk)) {
    if (chunk.has_header() && header != nullptr) *header = chunk.header();
    if (chunk.has_no_task() && no_task != nullptr) *no_task = chunk.no_task();
  }
  return reader->Finish();
}

grpc::Status RawClient::Push(const std::vector<v1::ResultChunk>& messages) {
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::PushResultResponse response;
  auto writer = stub_->PushResult(&context, &response);
  for (const v1::ResultChunk& m : messages) {
    if (!writer->Write(m)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status RawClient::Push(const v1::UpdateHeader& header,
                             const std::vector<std::string>& chunks) {
  std::vector<v1::ResultChunk> messages(1);
  *messages[0].mutable_header() = header;
  for (const std::string& bytes : chunks) {
    messages.emplace_back().set_update_data(bytes);
  }
  return Push(messages);
}

grpc::Status RawClient::Heartbeat() {
  v1::HeartbeatRequest request;
  request.mutable_ref()->set_run_id(kRunId);
  request.set_activity("idle");
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::HeartbeatResponse response;
  return stub_->Heartbeat(&context, request, &response);
}

grpc::Status RawClient::Leave(const std::string& reason,
                              const std::string& session_id) {
  v1::LeaveRequest request;
  request.mutable_ref()->set_run_id(kRunId);
  request.set_session_id(session_id);
  request.set_reason(reason);
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::LeaveResponse response;
  return stub_->Leave(&context, request, &response);
}

grpc::Status RawClient::Exchange(const v1::SecAggRequest& request,
                                 v1::SecAggResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  return stub_->SecAggExchange(&context, request, response);
}

v1::UpdateHeader ValidHeader(const v1::TaskHeader& task,
                             uint64_t num_examples) {
  v1::UpdateHeader header;
  *header.mutable_ref() = task.ref();
  header.set_num_examples(num_examples);
  header.set_num_values(task.num_values());
  header.set_train_loss(0.5);
  header.set_train_seconds(0.1);
  return header;
}

std::string FloatChunk(size_t n, float value) {
  std::string bytes(n * 4, '\0');
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  for (size_t i = 0; i < n; ++i) {
    for (int b = 0; b < 4; ++b) {
      bytes[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
    }
  }
  return bytes;
}

}  // namespace fedlearn::hostile
