// The real coordinator stack in the test's own process, for tests that need
// the gRPC path with mutual TLS but not the binaries: a RoundEngine (the
// caller's config and model, the system clock), a ClientAuthorizer over a
// TestFederation's CA, the CoordinatorService and its gRPC server on
// 127.0.0.1 with an OS-chosen port; and the real client transport for any
// identity the federation issued.
//
// Refuses nothing itself: a failing step is returned as its status. The
// server is shut down on destruction; the engine is not driven (the test
// ticks it or runs RunUntilDone on its own thread, and joins that thread
// before this object goes). Not thread-safe, except what the engine, the
// service and the transports guarantee themselves.
#ifndef FEDLEARN_TESTS_TEST_UTIL_MTLS_COORDINATOR_H_
#define FEDLEARN_TESTS_TEST_UTIL_MTLS_COORDINATOR_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "client/grpc_coordinator_transport.h"
#include "common/util/clock.h"
#include "gtest/gtest.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "server/identity/client_authorizer.h"
#include "server/round/round_engine.h"
#include "tests/server/identity/test_federation.h"

namespace fedlearn::testing_util {

class MtlsCoordinator {
 public:
  // The federation's CA and server certificate go to `dir`.
  explicit MtlsCoordinator(const std::string& dir) : federation_(dir) {}
  ~MtlsCoordinator() {
    if (server_.server) server_.server->Shutdown();
  }
  MtlsCoordinator(const MtlsCoordinator&) = delete;
  MtlsCoordinator& operator=(const MtlsCoordinator&) = delete;

  // REQUIRES: called once. The authorizer admits `identity` for the
  // engine's run id; both record to audit().
  absl::Status Start(const RoundEngineConfig& config, FlatModel initial,
                     IdentityConfig identity) {
    auto engine =
        RoundEngine::Create(config, std::move(initial), 1, &clock_, nullptr);
    if (!engine.ok()) return engine.status();
    engine_ = *std::move(engine);
    ClientAuthorizer::Options auth;
    auth.run_id = config.run_id;
    auth.identity = std::move(identity);
    auth.ca_pem = federation_.ca_pem();
    auth.audit = &audit_;
    auto authorizer = ClientAuthorizer::Create(std::move(auth));
    if (!authorizer.ok()) return authorizer.status();
    authorizer_ = *std::move(authorizer);
    CoordinatorService::Options options;
    options.audit = &audit_;
    options.authorizer = authorizer_.get();
    service_ = std::make_unique<CoordinatorService>(engine_.get(), options);
    auto server = StartGrpcServer("127.0.0.1:0", federation_.Tls("server"),
                                  service_.get());
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    return absl::OkStatus();
  }

  // The client transport presenting `id`.pem/.key (nullptr, with a test
  // failure, if it cannot be made).
  std::unique_ptr<GrpcCoordinatorTransport> Transport(const std::string& id) {
    GrpcTransportOptions options;
    options.target = "127.0.0.1:" + std::to_string(server_.port);
    options.server_name_override = "localhost";
    options.tls = federation_.Tls(id);
    options.rpc_timeout = std::chrono::seconds(10);
    auto transport = GrpcCoordinatorTransport::Create(options);
    EXPECT_TRUE(transport.ok()) << transport.status();
    return transport.ok() ? *std::move(transport) : nullptr;
  }

  TestFederation& federation() { return federation_; }
  RecordingAuditSink& audit() { return audit_; }
  RoundEngine* engine() const { return engine_.get(); }
  ClientAuthorizer* authorizer() const { return authorizer_.get(); }
  int port() const { return server_.port; }

 private:
  TestFederation federation_;
  RecordingAuditSink audit_;
  SystemClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<ClientAuthorizer> authorizer_;
  std::unique_ptr<CoordinatorService> service_;
  RunningServer server_;
};

}  // namespace fedlearn::testing_util

#endif  // FEDLEARN_TESTS_TEST_UTIL_MTLS_COORDINATOR_H_
