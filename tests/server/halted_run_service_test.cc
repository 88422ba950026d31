// A run halted by a storage fault, as clients see it over the wire: the
// coordinator's gRPC service on 127.0.0.1 (OS-chosen port, plaintext test
// mode) driven by the real client transport. The round's listener fails to
// record it (a full disk): FetchTask must say "halted", not "finished"
// (issue 13: daemons told the run finished quit while the coordinator could
// not write its state).
#include <chrono>
#include <memory>
#include <vector>

#include "client/grpc_coordinator_transport.h"
#include "common/util/clock.h"
#include "gtest/gtest.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "server/round/round_engine.h"

namespace fedlearn {
namespace {

struct FullDisk : RoundListener {
  absl::Status OnRoundCompleted(const RoundSummary&,
                                const FlatModel&) override {
    return absl::ResourceExhaustedError("No space left on device");
  }
};

FlatModel TwoValues() {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back({"w", {2}, DType::kFloat32});
  model.values = FlatVector(std::vector<float>{0.0f, 0.0f});
  return model;
}

TEST(HaltedRunServiceTest, StorageFaultIsAnsweredAsHaltedNotFinished) {
  RoundEngineConfig config;
  config.secagg.enabled = false;
  config.run_id = "halted";
  config.num_rounds = 3;
  config.min_clients = 1;
  config.clients_per_round = 1;
  config.min_updates = 1;
  config.round_timeout = std::chrono::seconds(60);
  SystemClock clock;
  auto engine = RoundEngine::Create(config, TwoValues(), 1, &clock, nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status();
  FullDisk disk;
  (*engine)->AddListener(&disk);
  CoordinatorService::Options service_options;
  service_options.insecure = true;
  CoordinatorService service(engine->get(), service_options);
  TlsConfig plaintext;
  plaintext.insecure = true;
  auto server = StartGrpcServer("127.0.0.1:0", plaintext, &service);
  ASSERT_TRUE(server.ok()) << server.status();

  GrpcTransportOptions options;
  options.target = "127.0.0.1:" + std::to_string(server->port);
  options.tls.insecure = true;
  options.claimed_client_id = "site-a";
  auto client = GrpcCoordinatorTransport::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ReceivedContract> contract = (*client)->GetContract();
  ASSERT_TRUE(contract.ok()) << contract.status();
  ASSERT_TRUE((*client)->Register(10, contract->digest).ok());
  (*engine)->Tick();
  absl::StatusOr<FetchReply> task = (*client)->FetchTask("halted", 0);
  ASSERT_TRUE(task.ok()) << task.status();
  ASSERT_TRUE(task->task.has_value());
  const FlatVector delta(std::vector<float>{0.5f, 0.5f});
  OutgoingUpdate update;
  update.run_id = "halted";
  update.round = 1;
  update.model_version = 0;
  update.num_examples = 10;
  update.delta = &delta;
  ASSERT_TRUE((*client)->PushResult(update).ok());
  (*engine)->Tick();  // the round closes; recording it fails
  ASSERT_EQ((*engine)->phase(), RoundEngine::Phase::kFailed);

  absl::StatusOr<FetchReply> reply = (*client)->FetchTask("halted", 1);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->task.has_value());
  EXPECT_TRUE(reply->run_halted);
  EXPECT_FALSE(reply->run_finished) << "clients would stop and exit";
  EXPECT_FALSE(reply->run_failed);
  EXPECT_NE(reply->reason.find("No space left on device"), std::string::npos)
      << reply->reason;
  absl::StatusOr<bool> heartbeat = (*client)->Heartbeat("halted", "idle");
  ASSERT_TRUE(heartbeat.ok()) << heartbeat.status();
  EXPECT_FALSE(*heartbeat) << "the heartbeat says the run finished";
  server->server->Shutdown();
}

}  // namespace
}  // namespace fedlearn
