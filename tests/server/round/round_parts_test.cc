// The round engine's parts, each driven on its own without an engine:
// cohort sampling, plaintext collection, the release path and the shared
// messages. The engine's sequencing of them is pinned by round_engine_test,
// secure_round_engine_test and dp_round_engine_test.
#include <cmath>
#include <string>
#include <variant>
#include <vector>

#include "common/util/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/round/cohort_sampler.h"
#include "server/round/plain_collector.h"
#include "server/round/round_errors.h"
#include "server/round/round_release.h"
#include "tests/server/round/test_models.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

UpdateSubmission Update(std::vector<float> delta, uint64_t examples) {
  UpdateSubmission u;
  u.run_id = "run";
  u.round = 1;
  u.num_examples = examples;
  u.train_loss = 0.5;
  u.delta = FlatVector(std::move(delta));
  return u;
}

class PlainCollectorTest : public ::testing::Test {
 protected:
  PlainCollectorTest() {
    config_.min_updates = 2;
    setup_.round = 1;
    setup_.attempt = 1;
    setup_.cohort = {"a", "b", "c"};
    setup_.dimension = 2;
    setup_.deadline = clock_.Now() + std::chrono::seconds(10);
    setup_.config = &config_;
  }

  absl::Status Submit(PlainCollector& c, const std::string& id,
                      std::vector<float> delta, uint64_t examples) {
    UpdateSubmission u = Update(std::move(delta), examples);
    const absl::Status content = CheckUpdateContent(u, 2, 100, 1e4);
    // The client fetched its task (the engine's FetchTask does this).
    if (c.cohort().state(id) == ClientRoundState::kSelected) {
      c.cohort().Set(id, ClientRoundState::kTaskSent);
    }
    return c.SubmitUpdate(id, std::move(u), content);
  }

  FakeClock clock_;
  RoundEngineConfig config_;
  AttemptSetup setup_;
};

TEST_F(PlainCollectorTest, ClosesWithTheWeightedSumOfAcceptedUpdates) {
  PlainCollector c(setup_, std::nullopt);
  ASSERT_TRUE(Submit(c, "a", {1, 0}, 1).ok());
  ASSERT_TRUE(Submit(c, "b", {0, 1}, 3).ok());
  EXPECT_FALSE(c.Poll(clock_.Now()));         // "c" has not answered
  EXPECT_FALSE(Submit(c, "c", {1}, 1).ok());  // wrong size: rejected
  ASSERT_TRUE(c.Poll(clock_.Now()));

  absl::StatusOr<CollectionResult> result = c.Close();
  ASSERT_TRUE(result.ok()) << result.status();
  const RoundAggregate* a = std::get_if<RoundAggregate>(&*result);
  ASSERT_NE(a, nullptr);
  // The weighted mean, divided in double: (1*{1,0} + 3*{0,1}) / 4.
  EXPECT_THAT(a->update_sum, ElementsAre(0.25f, 0.75f));
  EXPECT_DOUBLE_EQ(a->divisor, 1.0);
  EXPECT_DOUBLE_EQ(a->total_examples, 4.0);
  EXPECT_EQ(a->selected, 3);
  EXPECT_EQ(a->participants, 2);
  EXPECT_EQ(a->rejected, 1);
  EXPECT_THAT(a->dropped, ElementsAre("c"));
  EXPECT_FALSE(a->private_sum.has_value());
}

TEST_F(PlainCollectorTest, ASecondAnswerFromOneClientIsRefused) {
  PlainCollector c(setup_, std::nullopt);
  ASSERT_TRUE(Submit(c, "a", {1, 0}, 1).ok());
  EXPECT_EQ(Submit(c, "a", {1, 0}, 1).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(PlainCollectorTest, TooFewUpdatesIsAnAttemptFailureNamingMinUpdates) {
  PlainCollector c(setup_, std::nullopt);
  ASSERT_TRUE(Submit(c, "a", {1, 0}, 1).ok());
  c.OnLeave("b");
  EXPECT_FALSE(c.Poll(clock_.Now()));
  clock_.Advance(std::chrono::seconds(11));
  ASSERT_TRUE(c.Poll(clock_.Now()));  // the deadline passed

  absl::StatusOr<CollectionResult> result = c.Close();
  ASSERT_TRUE(result.ok());
  const AttemptFailure* failure = std::get_if<AttemptFailure>(&*result);
  ASSERT_NE(failure, nullptr);
  EXPECT_THAT(failure->reason, HasSubstr("1 accepted update(s) of 3"));
  EXPECT_THAT(failure->reason, HasSubstr("need min_updates=2"));
  EXPECT_EQ(failure->advice, kTooFewUpdatesAdvice);
}

TEST_F(PlainCollectorTest, DpRoundsClipEveryUpdateAndWeighItOne) {
  PlainCollector c(setup_, /*dp_clip_norm=*/1.0);
  ASSERT_TRUE(Submit(c, "a", {3, 4}, 50).ok());   // norm 5: clipped to 1
  ASSERT_TRUE(Submit(c, "b", {0, 0.5}, 7).ok());  // inside the clip
  c.OnLeave("c");
  ASSERT_TRUE(c.Poll(clock_.Now()));
  absl::StatusOr<CollectionResult> result = c.Close();
  ASSERT_TRUE(result.ok());
  const RoundAggregate& a = std::get<RoundAggregate>(*result);
  ASSERT_TRUE(a.private_sum.has_value());
  EXPECT_THAT(a.private_sum->update_sum,
              ElementsAre(::testing::FloatEq(0.6f), ::testing::FloatEq(1.3f)));
  EXPECT_DOUBLE_EQ(a.private_sum->indicator_sum, 0.0);  // -1 + 1
  EXPECT_TRUE(std::isnan(a.total_examples));
}

TEST_F(PlainCollectorTest, AnUploadBeforeFetchingTheTaskIsRefusedUnanswered) {
  PlainCollector c(setup_, std::nullopt);
  UpdateSubmission u = Update({1, 0}, 1);
  const absl::Status content = CheckUpdateContent(u, 2, 100, 1e4);
  absl::Status s = c.SubmitUpdate("a", std::move(u), content);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("fetch the round's task before uploading"));
  EXPECT_EQ(c.cohort().state("a"), ClientRoundState::kSelected);
  ASSERT_TRUE(Submit(c, "a", {1, 0}, 1).ok());
  EXPECT_EQ(c.CheckMayUpload("a").code(), absl::StatusCode::kAlreadyExists);
}

TEST(UpdateContentTest, NormAtTheBoundIsAcceptedAboveItRefused) {
  UpdateSubmission u = Update({3, 4}, 1);  // norm 5
  EXPECT_TRUE(CheckUpdateContent(u, 2, 100, 5.0).ok());
  absl::Status s = CheckUpdateContent(u, 2, 100, 4.99);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("max_update_l2_norm"));
  // Values whose squares overflow float still get a finite norm (double).
  UpdateSubmission huge = Update({3.0e38f, 3.0e38f}, 1);
  EXPECT_EQ(CheckUpdateContent(huge, 2, 100, 1e30).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(UpdateContentTest, WeightAboveTheDeclaredExampleCountIsRefused) {
  EXPECT_TRUE(CheckDeclaredExamples(10, 10).ok());
  EXPECT_TRUE(CheckDeclaredExamples(1, 10).ok());
  EXPECT_EQ(CheckDeclaredExamples(11, 10).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckDeclaredExamples(1'000'000'000'000, 10).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PlainCollectorTest, SecureAggregationMessagesAreRefused) {
  PlainCollector c(setup_, std::nullopt);
  EXPECT_EQ(c.AcceptsSecAgg("a").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.MaskedInputLength(), 0u);
}

TEST(RoundReleaseTest, NextModelIsGlobalPlusLearningRateTimesMean) {
  RoundAggregate a;
  a.update_sum = {2.0f, -4.0f};
  a.divisor = 4.0;
  a.selected = 3;
  a.participants = 2;
  a.rejected = 1;
  a.total_examples = 4;
  a.train_loss = 0.25;
  a.dropped = {"c"};
  const FlatModel global = testing::MakeModel({1.0f, 1.0f});
  ReleaseContext context;
  context.run_id = "run";
  context.round = 7;
  context.attempt = 2;
  context.server_learning_rate = 0.5;
  context.failed_sites = {DepartedClient{"d", true, "bad data"}};

  absl::StatusOr<ReleasedRound> released =
      ReleaseRound(std::move(a), global, std::move(context));
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_THAT(testing::Values(released->next.values), ElementsAre(1.25f, 0.5f));
  const RoundSummary& s = released->summary;
  EXPECT_EQ(s.run_id, "run");
  EXPECT_EQ(s.round, 7u);
  EXPECT_EQ(s.model_version, 7u);
  EXPECT_EQ(s.attempt, 2);
  EXPECT_EQ(s.selected, 3);
  EXPECT_EQ(s.participants, 2);
  EXPECT_EQ(s.rejected, 1);
  EXPECT_DOUBLE_EQ(s.train_loss, 0.25);
  EXPECT_THAT(s.dropped, ElementsAre("c"));
  ASSERT_EQ(s.failed_sites.size(), 1u);
  EXPECT_EQ(s.failed_sites[0].client_id, "d");
  EXPECT_FALSE(s.dp.has_value());
}

TEST(RoundReleaseTest, ANonFiniteNextModelIsRefusedNotReleased) {
  RoundAggregate a;
  a.update_sum = {3.0e38f, 1.0f, 3.0e38f};
  a.divisor = 1.0;
  a.participants = 1;
  const FlatModel global = testing::MakeModel({3.0e38f, 1.0f, -3.0e38f});
  ReleaseContext context;
  context.run_id = "run";
  context.round = 1;
  context.attempt = 1;
  absl::StatusOr<ReleasedRound> released =
      ReleaseRound(std::move(a), global, std::move(context));
  ASSERT_FALSE(released.ok());
  EXPECT_EQ(released.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(released.status().message()),
              HasSubstr("1 of 3 values that are not finite"));
  EXPECT_STREQ(ReleaseFailureAdvice(released.status()), kNonFiniteModelAdvice);
}

std::vector<std::string> Clients(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("client-" + std::to_string(i));
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(CohortSamplerTest, SameSeedRoundAndAttemptGiveTheSameCohort) {
  CohortSampler sampler({/*clients_per_round=*/5, 1.0, /*seed=*/42}, nullptr);
  const std::vector<std::string> first = sampler.Sample(Clients(50), 3, 1);
  EXPECT_EQ(first.size(), 5u);
  EXPECT_EQ(sampler.Sample(Clients(50), 3, 1), first);
  EXPECT_NE(sampler.Sample(Clients(50), 3, 2), first);  // a retry resamples
}

TEST(CohortSamplerTest, FractionRoundsUpAndAFixedSampleMustReachMinUpdates) {
  CohortSampler sampler({/*clients_per_round=*/0, 0.25, 1}, nullptr);
  EXPECT_EQ(sampler.Sample(Clients(10), 1, 1).size(), 3u);  // ceil(2.5)
  EXPECT_TRUE(sampler.CheckCanReach(10, 3).ok());
  EXPECT_THAT(std::string(sampler.CheckCanReach(10, 4).message()),
              HasSubstr("sampling 3 cannot reach min_updates 4"));
}

TEST(RoundErrorsTest, MessagesNameTheRoundAndClient) {
  EXPECT_EQ(AttemptLabel(3, 2), "round 3 attempt 2");
  EXPECT_EQ(UnknownClientError("x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(NotSelectedError("x", 4).message(),
            "client 'x' was not selected for round 4");
  EXPECT_EQ(DescribeClientList(Clients(12)).substr(0, 18),
            "client-0, client-1");
  EXPECT_THAT(DescribeClientList(Clients(12)), HasSubstr("(+2 more)"));
}

TEST(RoundErrorsTest, AClientsRunIdIsEscapedAndBoundedInTheError) {
  // A client can send any run_id: 2 MiB came back verbatim before.
  const std::string huge = "evil\nFORGED LOG LINE" + std::string(2 << 20, 'x');
  const absl::Status s = WrongRunError("update", huge, "real-run");
  EXPECT_LT(s.message().size(), 300u);
  EXPECT_EQ(s.message().find('\n'), absl::string_view::npos) << s.message();
  EXPECT_THAT(std::string(s.message()), HasSubstr("active run is 'real-run'"));
}

}  // namespace
}  // namespace fedlearn
