// Federated evaluation over the real gRPC transport against a scripted
// in-process service on 127.0.0.1 (no TLS): TaskHeader.evaluation reaches
// the ReceivedTask, OutgoingUpdate.eval_report reaches UpdateHeader.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "client/grpc_coordinator_transport.h"
#include "common/wire/proto_conversion.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/fedlearn/v1/fedlearn.grpc.pb.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;

ModelSpec Spec() { return ModelSpec{"fake", {{"w", {2}, DType::kFloat32}}}; }

class ScriptedService : public v1::Coordinator::Service {
 public:
  grpc::Status FetchTask(grpc::ServerContext*, const v1::FetchTaskRequest*,
                         grpc::ServerWriter<v1::TaskChunk>* writer) override {
    v1::TaskChunk header;
    v1::TaskHeader* h = header.mutable_header();
    h->mutable_ref()->set_run_id("run-1");
    h->mutable_ref()->set_round(4);
    *h->mutable_model_spec() = ToProto(Spec());
    *h->mutable_training() = ToProto(TrainingConfig());
    h->set_num_values(2);
    if (with_evaluation) {
      h->mutable_evaluation()->set_evaluate_only(true);
      h->mutable_evaluation()->set_max_examples(123);
    }
    writer->Write(header);
    v1::TaskChunk data;
    data.set_model_data(std::string(8, '\0'));
    writer->Write(data);
    return grpc::Status::OK;
  }
  grpc::Status PushResult(grpc::ServerContext*,
                          grpc::ServerReader<v1::ResultChunk>* reader,
                          v1::PushResultResponse* response) override {
    v1::ResultChunk chunk;
    while (reader->Read(&chunk)) {
      if (chunk.has_header()) received = chunk.header();
    }
    response->set_accepted(true);
    return grpc::Status::OK;
  }
  bool with_evaluation = true;
  v1::UpdateHeader received;
};

class GrpcTransportEvaluationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    GrpcTransportOptions options;
    options.target = "127.0.0.1:" + std::to_string(port);
    options.tls.insecure = true;
    options.claimed_client_id = "site-a";
    absl::StatusOr<std::unique_ptr<GrpcCoordinatorTransport>> transport =
        GrpcCoordinatorTransport::Create(options);
    ASSERT_TRUE(transport.ok()) << transport.status();
    transport_ = *std::move(transport);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  ScriptedService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<GrpcCoordinatorTransport> transport_;
};

TEST_F(GrpcTransportEvaluationTest, TaskCarriesItsEvaluationRequest) {
  absl::StatusOr<FetchReply> reply = transport_->FetchTask("run-1", 3);
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->task.has_value());
  ASSERT_TRUE(reply->task->evaluation.has_value());
  EXPECT_TRUE(reply->task->evaluation->evaluate_only());
  EXPECT_EQ(reply->task->evaluation->max_examples(), 123u);
}

TEST_F(GrpcTransportEvaluationTest, TaskWithoutEvaluationHasNone) {
  service_.with_evaluation = false;
  absl::StatusOr<FetchReply> reply = transport_->FetchTask("run-1", 3);
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->task.has_value());
  EXPECT_FALSE(reply->task->evaluation.has_value());
}

TEST_F(GrpcTransportEvaluationTest, UpdateHeaderCarriesTheReport) {
  FlatVector delta(2);
  OutgoingUpdate update;
  update.run_id = "run-1";
  update.round = 4;
  update.num_examples = 9;
  update.delta = &delta;
  update.eval_report = {6, 4, 1234, 0, 7};
  ASSERT_TRUE(transport_->PushResult(update).ok());
  EXPECT_THAT(service_.received.eval_report(), ElementsAre(6, 4, 1234, 0, 7));
  update.eval_report.clear();
  ASSERT_TRUE(transport_->PushResult(update).ok());
  EXPECT_EQ(service_.received.eval_report_size(), 0);
}

}  // namespace
}  // namespace fedlearn
