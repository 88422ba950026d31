// Long-polling SecAggExchange (SecAggRequest.wait_ms) end to end over gRPC:
// the coordinator's service on 127.0.0.1 (OS-chosen port, plaintext test
// mode, claimed ids) running a secure round, and real clients: the gRPC
// transport's SecAggPollAsync driving client/secure_upload.h. The engine and
// the service share a FakeClock and run no background threads: the test
// ticks the engine and serves the wait list itself (RunSecAggWaits), so
// nothing here depends on timing. Also: a masked input of a stale session is
// refused (UpdateHeader.secagg_session_id).
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/grpc_coordinator_transport.h"
#include "client/secure_upload.h"
#include "common/secagg/encoding_proto.h"
#include "common/secagg/input_encoding.h"
#include "common/util/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator_service.h"
#include "server/grpc_server.h"
#include "server/round/round_engine.h"
#include "tests/server/secagg/secagg_harness.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::TestPki;
using ::testing::HasSubstr;

constexpr char kRunId[] = "held";
constexpr size_t kDimension = 6;
constexpr Duration kRoundTimeout = std::chrono::minutes(10);
constexpr auto kAskedWait = std::chrono::seconds(20);
// The uploads outlive an attempt that runs out of time.
constexpr Duration kUploadTimeout = 3 * kRoundTimeout;

FlatModel SmallModel() {
  FlatModel model;
  model.spec.architecture = "synthetic";
  model.spec.tensors.push_back(
      {"w", {static_cast<int64_t>(kDimension)}, DType::kFloat32});
  model.values = FlatVector(std::vector<float>(kDimension, 0.125f));
  return model;
}

// Records the phases the attempts enter.
struct PhaseLog : RoundListener {
  absl::Status OnRoundCompleted(const RoundSummary&,
                                const FlatModel&) override {
    ++completed;
    return absl::OkStatus();
  }
  void OnPhaseStarted(uint64_t, int, const std::string& phase) override {
    last = phase;
  }
  std::string last;
  int completed = 0;
};

// One site: its transport and, once it fetched the task, its upload.
struct Site {
  int index = 0;
  std::unique_ptr<GrpcCoordinatorTransport> transport;
  std::optional<ReceivedTask> task;
  std::unique_ptr<SecureUpload> upload;
  bool done = false;
};

class LongPollSecAggTest : public ::testing::Test {
 protected:
  void Start(ServiceLimits limits, int clients) {
    RoundEngineConfig config;
    config.run_id = kRunId;
    config.num_rounds = 1;
    config.min_clients = clients;
    config.clients_per_round = clients;
    config.min_updates = 1;
    config.poll_interval_ms = 700;
    config.round_timeout = kRoundTimeout;
    config.max_round_attempts = 2;
    config.client_liveness = std::chrono::hours(10);
    config.max_examples_per_update = 100'000;
    config.secagg.enabled = true;
    config.secagg.modulus_bits = 32;
    config.secagg.quantization_bits = 20;
    config.secagg.clip_range = 1.0;
    config.secagg.max_weight = 10'000;
    config.secagg.phase_timeout = std::chrono::seconds(30);
    config.secagg.ca_pem = TestPki::Get().ca_pem();
    auto engine =
        RoundEngine::Create(config, SmallModel(), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    engine_->AddListener(&phases_);
    CoordinatorService::Options options;
    options.insecure = true;
    options.clock = &clock_;
    options.run_watchdog = false;  // the test serves waits itself
    options.limits = limits;
    service_ = std::make_unique<CoordinatorService>(engine_.get(), options);
    TlsConfig plaintext;
    plaintext.insecure = true;
    auto server = StartGrpcServer("127.0.0.1:0", plaintext, service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    for (int i = 0; i < clients; ++i) sites_.push_back(Join(i));
    engine_->Tick();  // everyone registered: round 1 opens
    for (Site& site : sites_) ASSERT_NO_FATAL_FAILURE(Begin(site));
  }

  void TearDown() override {
    if (server_.server) {
      service_->EndFetchWaits();
      service_->RunSecAggWaits();
      server_.server->Shutdown();
    }
    engine_->RemoveListener(&phases_);
  }

  Site Join(int i) {
    Site site;
    site.index = i;
    GrpcTransportOptions options;
    options.target = "127.0.0.1:" + std::to_string(server_.port);
    options.tls.insecure = true;
    options.claimed_client_id = TestPki::ClientId(i);
    auto transport = GrpcCoordinatorTransport::Create(options);
    EXPECT_TRUE(transport.ok()) << transport.status();
    site.transport = *std::move(transport);
    auto contract = site.transport->GetContract();
    EXPECT_TRUE(contract.ok()) << contract.status();
    EXPECT_TRUE(site.transport->Register(1000, contract->digest).ok());
    return site;
  }

  // Fetches the secure task and starts the upload of a small update.
  void Begin(Site& site) {
    absl::StatusOr<FetchReply> fetched = site.transport->FetchTask(kRunId, 0);
    ASSERT_TRUE(fetched.ok()) << fetched.status();
    ASSERT_TRUE(fetched->task.has_value()) << fetched->reason;
    ASSERT_TRUE(fetched->task->secagg.has_value());
    absl::StatusOr<InputEncoder> encoder = InputEncoder::Create(
        EncodingParametersFromProto(fetched->task->encoding));
    ASSERT_TRUE(encoder.ok()) << encoder.status();
    const std::vector<float> delta(kDimension, 0.01f * (site.index + 1));
    absl::StatusOr<EncodedUpdate> encoded = encoder->Encode(delta, 1000, 0.5);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    auto upload = SecureUpload::Start(
        *fetched->task, std::move(encoded->values),
        TestPki::Get().Identity(site.index), clock_.Now() + kUploadTimeout);
    ASSERT_TRUE(upload.ok()) << upload.status();
    site.task = *std::move(fetched->task);
    site.upload = *std::move(upload);
  }

  // One blocking step of the site's upload (its next message, or a poll
  // the coordinator answers at once).
  SecureUpload::Progress Advance(Site& site) {
    absl::StatusOr<SecureUpload::Progress> progress =
        site.upload->Advance(site.transport.get(), clock_.Now());
    EXPECT_TRUE(progress.ok()) << progress.status();
    if (progress.ok() && progress->done) site.done = true;
    return progress.value_or(SecureUpload::Progress{});
  }

  // Starts a long poll; the future gets its reply.
  std::future<absl::StatusOr<SecAggExchangeReply>> Poll(
      Site& site, std::chrono::milliseconds wait = kAskedWait) {
    auto promise =
        std::make_shared<std::promise<absl::StatusOr<SecAggExchangeReply>>>();
    auto future = promise->get_future();
    EXPECT_TRUE(site.transport->SecAggPollAsync(
        kRunId, 1, wait,
        [promise](auto reply) { promise->set_value(std::move(reply)); }));
    return future;
  }

  // The server holds `n` exchanges (they arrive asynchronously).
  void AwaitWaiting(size_t n) {
    while (service_->waiting_secagg_exchanges() != n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  FakeClock clock_;
  PhaseLog phases_;
  std::unique_ptr<RoundEngine> engine_;
  std::unique_ptr<CoordinatorService> service_;
  RunningServer server_;
  std::vector<Site> sites_;
};

TEST_F(LongPollSecAggTest, HeldExchangeIsAnsweredAsSoonAsTheNextPhaseOpens) {
  Start(ServiceLimits{}, 3);
  Site& a = sites_[0];
  EXPECT_TRUE(Advance(a).poll_now) << "advertised: long-poll the next phase";
  EXPECT_TRUE(a.upload->polls());
  Advance(sites_[1]);
  auto held = Poll(a);
  AwaitWaiting(1);
  // Another client's message opens no phase: nobody is woken.
  Advance(sites_[2]);
  EXPECT_EQ(service_->RunSecAggWaits(), 0);
  EXPECT_EQ(service_->waiting_secagg_exchanges(), 1u);
  engine_->Tick();  // everyone advertised: ShareKeys opens
  EXPECT_EQ(phases_.last, "ShareKeys");
  EXPECT_EQ(service_->RunSecAggWaits(), 1);
  absl::StatusOr<SecAggExchangeReply> got = held.get();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->message.has_value());
  EXPECT_TRUE(got->message->has_share_keys_request());
  EXPECT_TRUE(got->waited);
  EXPECT_FALSE(got->aborted);
  EXPECT_EQ(service_->waiting_secagg_exchanges(), 0u);
  // The upload goes on from the held reply: it shares its keys at once.
  absl::StatusOr<SecureUpload::Progress> next =
      a.upload->CompletePoll(a.transport.get(), clock_.Now(), *std::move(got));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->poll_now);
  EXPECT_FALSE(next->done);
}

TEST_F(LongPollSecAggTest, WaitThatRunsOutAnswersNothingNewToAskAgainAtOnce) {
  ServiceLimits limits;
  limits.max_fetch_wait = std::chrono::seconds(5);  // caps the asked 20 s
  Start(limits, 3);
  Site& a = sites_[0];
  Advance(a);
  auto held = Poll(a);
  AwaitWaiting(1);
  clock_.Advance(std::chrono::milliseconds(4999));
  service_->RunSecAggWaits();
  EXPECT_EQ(service_->waiting_secagg_exchanges(), 1u);
  clock_.Advance(std::chrono::milliseconds(1));
  service_->RunSecAggWaits();
  absl::StatusOr<SecAggExchangeReply> got = held.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->message.has_value());
  EXPECT_FALSE(got->aborted);
  EXPECT_TRUE(got->waited);
  EXPECT_EQ(got->retry_after_ms, 0u);
  absl::StatusOr<SecureUpload::Progress> next =
      a.upload->CompletePoll(a.transport.get(), clock_.Now(), *std::move(got));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->poll_now) << "a held poll that ran out: ask again now";
}

TEST_F(LongPollSecAggTest, FullWaitListRefusesWithTheLimitsKey) {
  ServiceLimits limits;
  limits.max_waiting_secagg_exchanges = 1;
  Start(limits, 3);
  Advance(sites_[0]);
  Advance(sites_[1]);
  auto held = Poll(sites_[0]);
  AwaitWaiting(1);
  absl::StatusOr<SecAggExchangeReply> refused = Poll(sites_[1]).get();
  ASSERT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("limits.max_waiting_secagg_exchanges"));
  EXPECT_EQ(service_->waiting_secagg_exchanges(), 1u);
}

TEST_F(LongPollSecAggTest, ExchangeWithoutWaitIsAnsweredAtOnceAsBefore) {
  Start(ServiceLimits{}, 3);
  Site& a = sites_[0];
  Advance(a);
  // SecAggExchange sends wait_ms 0.
  absl::StatusOr<SecAggExchangeReply> got =
      a.transport->SecAggExchange(kRunId, 1, nullptr);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->message.has_value());
  EXPECT_FALSE(got->waited);
  EXPECT_EQ(got->retry_after_ms, 100u) << "min(poll_interval_ms, 100)";
  EXPECT_EQ(service_->waiting_secagg_exchanges(), 0u);
  // A poll past the upload's deadline is not worth holding.
  EXPECT_EQ(a.upload->PollWait(clock_.Now() + kUploadTimeout).count(), 0);
  EXPECT_EQ(a.upload->PollWait(clock_.Now()), SecureUpload::kLongPollWait);
}

TEST_F(LongPollSecAggTest, AbortedAttemptWakesItsWaitersWithAborted) {
  Start(ServiceLimits{}, 5);  // full graph, threshold 3
  Site& a = sites_[0];
  Advance(a);
  Advance(sites_[1]);  // only two of five advertise
  auto held = Poll(a);
  AwaitWaiting(1);
  clock_.Advance(kRoundTimeout + std::chrono::seconds(1));
  engine_->Tick();  // the attempt aborts and the round is retried
  service_->RunSecAggWaits();
  absl::StatusOr<SecAggExchangeReply> got = held.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->aborted);
  EXPECT_FALSE(got->reason.empty());
  EXPECT_EQ(service_->waiting_secagg_exchanges(), 0u);
  absl::StatusOr<SecureUpload::Progress> next =
      a.upload->CompletePoll(a.transport.get(), clock_.Now(), *std::move(got));
  EXPECT_TRUE(absl::IsAborted(next.status())) << next.status();
  EXPECT_TRUE(a.upload->ended());
}

// A coordinator that does not hold exchanges (as one from before wait_ms:
// its replies never say `waited`): the long-polling client falls back to
// the coordinator's retry delay and the round still completes.
TEST_F(LongPollSecAggTest, ClientCompletesAgainstACoordinatorThatDoesNotHold) {
  ServiceLimits limits;
  limits.max_fetch_wait = std::chrono::seconds(0);
  Start(limits, 3);
  for (int pass = 0; pass < 20 && phases_.completed == 0; ++pass) {
    for (Site& site : sites_) {
      if (site.done) continue;
      if (!site.upload->polls()) {
        Advance(site);
        continue;
      }
      absl::StatusOr<SecAggExchangeReply> reply = Poll(site).get();
      ASSERT_TRUE(reply.ok()) << reply.status();
      EXPECT_FALSE(reply->waited);
      absl::StatusOr<SecureUpload::Progress> progress =
          site.upload->CompletePoll(site.transport.get(), clock_.Now(),
                                    *std::move(reply));
      ASSERT_TRUE(progress.ok()) << progress.status();
      site.done = progress->done;
      if (!progress->done && !progress->poll_now) {
        EXPECT_EQ(progress->retry_after_ms, 100u) << "the coordinator's delay";
      }
    }
    EXPECT_EQ(service_->waiting_secagg_exchanges(), 0u);
    engine_->Tick();
  }
  EXPECT_EQ(phases_.completed, 1) << "last phase: " << phases_.last;
  for (const Site& site : sites_) EXPECT_TRUE(site.done) << site.index;
}

// A retried round keeps its number, so the cohort index cannot tell an
// earlier attempt's masked input from this one's: the session id does.
TEST_F(LongPollSecAggTest, MaskedInputOfAStaleSessionIsRefused) {
  Start(ServiceLimits{}, 3);
  for (int pass = 0; pass < 10 && phases_.last != "MaskedInputCollection";
       ++pass) {
    for (Site& site : sites_) Advance(site);
    engine_->Tick();
  }
  ASSERT_EQ(phases_.last, "MaskedInputCollection");
  Site& c = sites_[2];
  const std::vector<uint32_t> zeros(engine_->MaskedInputLength(), 0);
  const std::string stale(32, '\x7f');
  ASSERT_NE(stale, c.task->secagg->session_id());
  absl::Status refused =
      c.transport->PushMaskedInput(kRunId, 1, c.task->model_version, zeros,
                                   engine_->MaskedValueBytes(), {}, stale);
  ASSERT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("round 1"));
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("stale secure-aggregation session"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("7f7f7f7f"));
  // Its real one (the upload names the task's session) is still taken, and
  // the round completes with every site.
  for (int pass = 0; pass < 10 && phases_.completed == 0; ++pass) {
    for (Site& site : sites_) {
      if (!site.done) Advance(site);
    }
    engine_->Tick();
  }
  EXPECT_EQ(phases_.completed, 1) << "last phase: " << phases_.last;
  for (const Site& site : sites_) EXPECT_TRUE(site.done) << site.index;
}

}  // namespace
}  // namespace fedlearn
