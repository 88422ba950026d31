#include "server/audit/auditing_round_listener.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/util/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/round/round_engine.h"
#include "tests/server/round/test_models.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RecordingSink : public AuditSink {
 public:
  void Record(const AuditEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(event);
  }
  absl::Status status() const override { return status_; }

  std::vector<AuditEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const AuditEvent& e : events()) out.push_back(e.event);
    return out;
  }
  absl::Status status_;

 private:
  mutable std::mutex mu_;
  std::vector<AuditEvent> events_;
};

// Every key anywhere in `j`.
void CollectKeys(const nlohmann::json& j, std::set<std::string>& keys) {
  if (j.is_object()) {
    for (const auto& item : j.items()) {
      keys.insert(item.key());
      CollectKeys(item.value(), keys);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) CollectKeys(v, keys);
  }
}

RoundSummary DpSummary() {
  RoundSummary s;
  s.run_id = "r";
  s.round = 4;
  s.attempt = 2;
  s.selected = 5;
  s.participants = 3;
  s.rejected = 1;
  s.secure = true;
  s.model_version = 4;
  s.dropped = {"site-d", "site-e"};
  RoundSummary::Dp dp;
  dp.mode = "distributed";
  dp.epsilon = 1.5;
  dp.delta = 1e-5;
  dp.noise_multiplier = 1.1;
  dp.clip_norm = 0.5;
  dp.sampling_rate = 0.2;
  s.dp = dp;
  return s;
}

TEST(ModelValuesSha256Test, HashesLittleEndianFloat32Bytes) {
  // printf '\x00\x00\x80\x3f\x00\x00\x20\xc0' | sha256sum
  EXPECT_EQ(ModelValuesSha256(std::vector<float>{1.0f, -2.5f}),
            "48943f7a0ea247f8e3c9386d0c5822fe181d323a9289980426638cc4e72a43e1");
  EXPECT_EQ(ModelValuesSha256({}),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(AuditingRoundListenerTest, RecordsWhatEachRoundReleasedAndNoSecret) {
  RecordingSink sink;
  AuditingRoundListener listener(&sink);
  const FlatModel model = testing::MakeModel({0.25f, 7.0f, -1.0f});
  listener.OnRoundStarted(4, 2, {"site-a", "site-b"});
  listener.OnClientBlamed(4, 2, "site-c", "its key shares did not decrypt");
  listener.OnRoundRetried(4, 2, "round 4 attempt 2: too few updates");
  ASSERT_TRUE(listener.OnRoundCompleted(DpSummary(), model).ok());
  listener.OnRunEnded(absl::DeadlineExceededError("gave up"));
  ASSERT_THAT(sink.names(),
              ElementsAre("round_started", "blamed", "round_retried",
                          "round_released", "run_ended"));
  const std::vector<AuditEvent> e = sink.events();
  EXPECT_EQ(e[0].details["cohort"], nlohmann::json({"site-a", "site-b"}));
  EXPECT_EQ(e[0].details["cohort_size"], 2);
  EXPECT_EQ(e[1].client_id, "site-c");
  EXPECT_EQ(e[1].details["reason"], "its key shares did not decrypt");
  const nlohmann::json& released = e[3].details;
  EXPECT_EQ(released["model_sha256"], ModelValuesSha256(model.values.span()));
  EXPECT_EQ(released["participants"], 3);
  EXPECT_EQ(released["model_version"], 4);
  EXPECT_EQ(released["secure"], true);
  EXPECT_EQ(released["dropped"], nlohmann::json({"site-d", "site-e"}));
  EXPECT_EQ(released["dp"]["epsilon"], 1.5);
  EXPECT_EQ(released["dp"]["delta"], 1e-5);
  EXPECT_EQ(e[4].details["status"], "DEADLINE_EXCEEDED");

  std::set<std::string> keys;
  for (const AuditEvent& event : e) CollectKeys(event.details, keys);
  for (const char* secret : {"update", "values", "model", "weights", "key",
                             "share", "mask", "seed"}) {
    EXPECT_EQ(keys.count(secret), 0u) << secret;
  }
  const std::string text = nlohmann::json(released).dump();
  EXPECT_EQ(text.find("0.25"), std::string::npos) << "a model value leaked";
}

TEST(AuditingRoundListenerTest, ListsAtMostAThousandIdsButTheExactCount) {
  RecordingSink sink;
  AuditingRoundListener listener(&sink);
  std::vector<std::string> cohort;
  for (int i = 0; i < 1500; ++i) cohort.push_back("s" + std::to_string(i));
  listener.OnRoundStarted(1, 1, cohort);
  const nlohmann::json d = sink.events()[0].details;
  EXPECT_EQ(d["cohort_size"], 1500);
  EXPECT_EQ(d["cohort"].size(), kMaxAuditedIds);
  EXPECT_EQ(d["cohort_truncated"], true);
}

TEST(AuditingRoundListenerTest, EscapesClientIds) {
  RecordingSink sink;
  AuditingRoundListener listener(&sink);
  listener.OnClientBlamed(1, 1, "evil\nid", "bad share");
  EXPECT_EQ(sink.events()[0].client_id, "evil\\nid");
}

TEST(AuditingRoundListenerTest, RefusesToReleaseWhatTheLogCannotRecord) {
  RecordingSink sink;
  sink.status_ = absl::DataLossError("disk full");
  AuditingRoundListener listener(&sink);
  const absl::Status s =
      listener.OnRoundCompleted(DpSummary(), testing::MakeModel({1.0f}));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("round 4 is not released"));
}

RoundEngineConfig TwoClientConfig() {
  RoundEngineConfig c;
  c.secagg.enabled = false;
  c.run_id = "audited";
  c.num_rounds = 1;
  c.min_clients = 2;
  c.clients_per_round = 2;
  c.min_updates = 2;
  c.round_timeout = std::chrono::seconds(60);
  c.client_liveness = std::chrono::hours(1);
  c.max_examples_per_update = 100;
  return c;
}

// The engine reports the attempts it opens: the audit trail's
// round_started events come from this call.
TEST(AuditingRoundListenerTest, TheEngineReportsEachAttemptItStarts) {
  FakeClock clock;
  auto engine = RoundEngine::Create(
      TwoClientConfig(), testing::MakeModel({0.0f, 0.0f}), 1, &clock, nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status();
  RecordingSink sink;
  AuditingRoundListener listener(&sink);
  (*engine)->AddListener(&listener);
  for (const char* id : {"b", "a"}) {
    ASSERT_TRUE((*engine)->Register(id, 10).ok());
  }
  (*engine)->Tick();
  ASSERT_THAT(sink.names(), ElementsAre("round_started"));
  EXPECT_EQ(sink.events()[0].details["cohort"], nlohmann::json({"a", "b"}));
  EXPECT_EQ(sink.events()[0].details["round"], 1);
  EXPECT_EQ(sink.events()[0].details["attempt"], 1);
  for (const char* id : {"a", "b"}) {
    ASSERT_TRUE((*engine)->FetchTask(id).ok());
    UpdateSubmission u;
    u.run_id = "audited";
    u.round = 1;
    u.model_version = 0;
    u.num_examples = 10;
    u.delta = FlatVector(std::vector<float>{1.0f, 2.0f});
    ASSERT_TRUE((*engine)->SubmitUpdate(id, std::move(u)).ok());
  }
  std::atomic<bool> stop{false};
  ASSERT_TRUE((*engine)->RunUntilDone(stop).ok());
  ASSERT_THAT(sink.names(),
              ElementsAre("round_started", "round_released", "run_ended"));
  EXPECT_EQ(sink.events()[1].details["model_sha256"],
            ModelValuesSha256((*engine)->global_model()->values.span()));
}

}  // namespace
}  // namespace fedlearn
