// The run contract and membership rules of the round engine: a client
// registers only for the run's contract, one session per identity, a client
// that leaves is no longer selected (and, if selected, counts as answered),
// and a site that cannot take part is recorded with its reason. Fake clock,
// no network.
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/server/round/test_models.h"

namespace fedlearn {
namespace {

using ::fedlearn::testing::MakeModel;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kRunId[] = "membership-run";

RoundEngineConfig Config() {
  RoundEngineConfig c;
  c.secagg.enabled = false;
  c.run_id = kRunId;
  c.num_rounds = 3;
  c.min_clients = 2;
  c.min_updates = 1;
  c.round_timeout = std::chrono::seconds(60);
  c.client_liveness = std::chrono::hours(1);
  c.session_takeover = std::chrono::seconds(15);
  c.seed = 7;
  return c;
}

UpdateSubmission Update(uint64_t round) {
  UpdateSubmission s;
  s.run_id = kRunId;
  s.round = round;
  s.model_version = round - 1;
  s.num_examples = 10;
  s.train_loss = 0.5;
  s.delta = FlatVector(std::vector<float>{0.25f, -0.25f});
  return s;
}

class RunMembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RoundEngineConfig config = Config();
    config.contract.mutable_model()->set_architecture("logreg");
    config.contract.mutable_model()->add_input_shape(2);
    config.contract.mutable_model()->set_num_classes(2);
    absl::StatusOr<std::unique_ptr<RoundEngine>> engine = RoundEngine::Create(
        std::move(config), MakeModel({0, 0}), 1, &clock_, nullptr);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    digest_ = engine_->GetContract().digest;
  }

  FakeClock clock_;
  std::unique_ptr<RoundEngine> engine_;
  std::string digest_;
};

TEST_F(RunMembershipTest, ContractNamesTheRunAndItsModelAndHasAStableDigest) {
  const ContractOffer offer = engine_->GetContract();
  EXPECT_EQ(offer.contract.run_id(), kRunId);
  EXPECT_EQ(offer.contract.model().architecture(), "logreg");
  EXPECT_EQ(offer.contract.model().spec().tensors_size(), 1);  // from the model
  EXPECT_EQ(offer.digest.size(), 64u);                         // SHA-256 hex
  EXPECT_EQ(engine_->GetContract().digest, offer.digest);
}

TEST_F(RunMembershipTest, ContractDigestChangesWithTheSchema) {
  RoundEngineConfig config = Config();
  config.contract.mutable_data()->set_label_column("diagnosis");
  config.contract.mutable_data()->add_classes("malignant");
  config.contract.mutable_data()->add_classes("benign");
  FakeClock clock;
  auto other =
      RoundEngine::Create(config, MakeModel({0, 0}), 1, &clock, nullptr);
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->GetContract().digest, digest_);
  // Swapping the class order is another contract: class 0 means another
  // thing.
  config.contract.mutable_data()->clear_classes();
  config.contract.mutable_data()->add_classes("benign");
  config.contract.mutable_data()->add_classes("malignant");
  auto swapped =
      RoundEngine::Create(config, MakeModel({0, 0}), 1, &clock, nullptr);
  ASSERT_TRUE(swapped.ok());
  EXPECT_NE((*swapped)->GetContract().digest, (*other)->GetContract().digest);
}

TEST_F(RunMembershipTest, RegistrationForAnotherContractIsRefused) {
  absl::Status s = engine_->Register("site-a", 10, "0123abcd", "s1");
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("fetch the contract again"));
  EXPECT_TRUE(engine_->Register("site-a", 10, digest_, "s1").ok());
}

TEST_F(RunMembershipTest,
       SecondProcessWithTheSameIdentityIsRefusedWhileTheFirstIsLive) {
  ASSERT_TRUE(engine_->Register("site-a", 10, digest_, "first").ok());
  clock_.Advance(std::chrono::seconds(5));
  absl::Status second = engine_->Register("site-a", 10, digest_, "second");
  EXPECT_TRUE(absl::IsAlreadyExists(second)) << second;
  EXPECT_THAT(std::string(second.message()),
              HasSubstr("refusing a second session"));
  // The first session re-registering (after a transient error) is fine.
  EXPECT_TRUE(engine_->Register("site-a", 10, digest_, "first").ok());
}

TEST_F(RunMembershipTest, RestartedClientTakesOverOnceTheOldSessionIsSilent) {
  ASSERT_TRUE(engine_->Register("site-a", 10, digest_, "old").ok());
  clock_.Advance(std::chrono::seconds(16));  // > session_takeover
  EXPECT_TRUE(engine_->Register("site-a", 10, digest_, "new").ok());
  // Now the old one is the intruder.
  EXPECT_TRUE(
      absl::IsAlreadyExists(engine_->Register("site-a", 10, digest_, "old")));
}

TEST_F(RunMembershipTest,
       ClientThatLeftIsNotSelectedAndAnotherSessionCannotEndIt) {
  ASSERT_TRUE(engine_->Register("site-a", 10, digest_, "sa").ok());
  ASSERT_TRUE(engine_->Register("site-b", 10, digest_, "sb").ok());
  ASSERT_TRUE(engine_->Register("site-c", 10, digest_, "sc").ok());
  // Another process holding site-c's identity cannot make it leave.
  EXPECT_FALSE(engine_->Leave("site-c", "intruder", false, "bye").ok());
  ASSERT_TRUE(engine_->Leave("site-c", "sc", false, "shutting down").ok());
  engine_->Tick();
  ASSERT_EQ(engine_->phase(), RoundEngine::Phase::kTraining);
  absl::StatusOr<FetchOutcome> c = engine_->FetchTask("site-c");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->task.has_value()) << "a departed client was selected";
  EXPECT_TRUE(engine_->departures().empty());  // shutdown is not a failure
}

TEST_F(RunMembershipTest,
       SelectedClientLeavingMidRoundCountsAsAnsweredAndIsNamedDropped) {
  struct Listener : RoundListener {
    absl::Status OnRoundCompleted(const RoundSummary& s,
                                  const FlatModel&) override {
      summaries.push_back(s);
      return absl::OkStatus();
    }
    std::vector<RoundSummary> summaries;
  } listener;
  engine_->AddListener(&listener);
  ASSERT_TRUE(engine_->Register("site-a", 10, digest_, "sa").ok());
  ASSERT_TRUE(engine_->Register("site-b", 10, digest_, "sb").ok());
  engine_->Tick();
  ASSERT_TRUE(engine_->FetchTask("site-a")->task.has_value());
  ASSERT_TRUE(engine_->FetchTask("site-b")->task.has_value());
  ASSERT_TRUE(engine_->SubmitUpdate("site-a", Update(1)).ok());
  ASSERT_TRUE(engine_->Leave("site-b", "sb", false, "SIGTERM").ok());
  // No need to wait for the deadline: every selected client has answered.
  engine_->Tick();
  ASSERT_EQ(listener.summaries.size(), 1u);
  EXPECT_EQ(listener.summaries[0].participants, 1);
  EXPECT_THAT(listener.summaries[0].dropped, ElementsAre("site-b"));
}

TEST_F(RunMembershipTest, PermanentDepartureIsRecordedWithItsEscapedReason) {
  ASSERT_TRUE(engine_->Register("site-a", 10, digest_, "sa").ok());
  ASSERT_TRUE(engine_
                  ->Leave("site-a", "sa", true,
                          "label \"Malignant\" not in classes\nFORGED LINE")
                  .ok());
  std::vector<DepartedClient> d = engine_->departures();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].client_id, "site-a");
  EXPECT_TRUE(d[0].permanent);
  EXPECT_THAT(d[0].reason, HasSubstr("Malignant"));
  EXPECT_EQ(d[0].reason.find('\n'), std::string::npos) << d[0].reason;
  // While waiting, the coordinator says who is missing and why.
  engine_->Tick();
  absl::StatusOr<FetchOutcome> out = engine_->FetchTask("site-a");
  ASSERT_TRUE(out.ok());
  EXPECT_THAT(out->reason, HasSubstr("site-a (failed: label"));
  // A fixed site that registers again is welcome back.
  ASSERT_TRUE(engine_->Register("site-a", 10, digest_, "sa2").ok());
  EXPECT_THAT(engine_->departures(), IsEmpty());
}

TEST_F(RunMembershipTest, HugeLeaveReasonIsTruncated) {
  ASSERT_TRUE(engine_->Register("site-a", 10, digest_, "sa").ok());
  ASSERT_TRUE(
      engine_->Leave("site-a", "sa", true, std::string(2 << 20, 'x')).ok());
  EXPECT_LT(engine_->departures()[0].reason.size(), 400u);
}

// Captures everything logged through spdlog's default logger while alive.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return text_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream text_;
};

// A client's free text (a leave reason, a malformed upload the transport
// quotes, a run id or client id it names) reaches neither a log line nor an
// error message verbatim: each is escaped (no forged lines) and bounded.
TEST_F(RunMembershipTest,
       ClientSuppliedTextIsEscapedAndBoundedInLogsAndErrors) {
  const std::string huge =
      "first\nFORGED LINE " + std::string(2 << 20, 'x') + "\nFORGED END";
  ASSERT_TRUE(engine_->Register("site-a", 10, digest_, "sa").ok());
  ASSERT_TRUE(engine_->Register("site-b", 10, digest_, "sb").ok());
  LogCapture capture;
  engine_->Tick();
  ASSERT_TRUE(engine_->FetchTask("site-a").ok());
  engine_->RejectUpdate("site-a", kRunId, 1, absl::InvalidArgumentError(huge));
  ASSERT_TRUE(engine_->Leave("site-b", "sb", /*permanent=*/true, huge).ok());

  const absl::Status wrong_run = engine_->CheckMayUpload("site-a", huge, 1);
  EXPECT_EQ(wrong_run.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_LT(wrong_run.message().size(), 400u);
  const absl::Status unknown = engine_->CheckMayUpload(huge, kRunId, 1);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_LT(unknown.message().size(), 400u);
  EXPECT_EQ(std::string(unknown.message()).find('\n'), std::string::npos);

  const std::string log = capture.text();
  EXPECT_THAT(log, HasSubstr("rejected update from site-a"));
  EXPECT_THAT(log, HasSubstr("site-b cannot take part"));
  EXPECT_LT(log.size(), 4096u) << log.substr(0, 4096);
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    // A forged line would start with the client's text.
    EXPECT_NE(line.rfind("FORGED", 0), 0u) << line.substr(0, 300);
  }
}

TEST_F(RunMembershipTest, FailedRunTellsClientsItFailed) {
  RoundEngineConfig config = Config();
  config.min_clients = 1;
  config.max_round_attempts = 1;
  config.min_updates = 1;
  FakeClock clock;
  auto engine =
      RoundEngine::Create(config, MakeModel({0, 0}), 1, &clock, nullptr);
  ASSERT_TRUE(engine.ok());
  const std::string digest = (*engine)->GetContract().digest;
  ASSERT_TRUE((*engine)->Register("site-a", 10, digest, "sa").ok());
  (*engine)->Tick();
  clock.Advance(std::chrono::seconds(61));
  (*engine)->Tick();  // no update by the deadline: the only attempt fails
  ASSERT_EQ((*engine)->phase(), RoundEngine::Phase::kFailed);
  absl::StatusOr<FetchOutcome> out = (*engine)->FetchTask("site-a");
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->run_finished);
  EXPECT_TRUE(out->run_failed);
}

}  // namespace
}  // namespace fedlearn
