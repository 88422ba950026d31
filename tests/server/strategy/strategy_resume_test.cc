// Server optimizers through the round engine, the run store and the
// coordinator's TOML: a run interrupted after round 2 and resumed from its
// state directory releases exactly the round 3 an uninterrupted run does;
// a corrupt or substituted state file is DataLoss; FedAvg runs write no
// state; [strategy] keys are checked at config load.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/util/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/coordinator_config.h"
#include "server/round/round_engine.h"
#include "server/run_store.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Kind = ServerOptimizerConfig::Kind;

constexpr char kRun[] = "strategy-run";
const std::vector<std::string> kClients = {"a", "b", "c"};

FlatModel Model(std::vector<float> values) {
  FlatModel m;
  m.spec.architecture = "test";
  m.spec.tensors.push_back(
      TensorSpec{"w", {static_cast<int64_t>(values.size())}, DType::kFloat32});
  m.values = FlatVector(std::move(values));
  return m;
}

bool SameBits(const FlatVector& a, const FlatVector& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

RoundEngineConfig EngineConfig(Kind kind) {
  RoundEngineConfig c;
  c.secagg.enabled = false;
  c.run_id = kRun;
  c.num_rounds = 3;
  c.min_clients = 3;
  c.min_updates = 3;
  c.client_liveness = std::chrono::hours(10);
  c.strategy.kind = kind;
  return c;
}

// Client i's delta in `round`: distinct per client and round.
std::vector<float> Delta(uint64_t round, size_t client) {
  return {0.1f * static_cast<float>(round) - 0.05f * client,
          -0.2f + 0.03f * client * round, 0.07f * (client + 1.0f)};
}

// Runs `round` with every client answering (weights 1, 2, 3).
void RunRound(RoundEngine& engine, uint64_t round) {
  engine.Tick();
  for (size_t i = 0; i < kClients.size(); ++i) {
    ASSERT_TRUE(engine.FetchTask(kClients[i]).ok());
  }
  for (size_t i = 0; i < kClients.size(); ++i) {
    UpdateSubmission s;
    s.run_id = kRun;
    s.round = round;
    s.model_version = round - 1;
    s.num_examples = i + 1;
    s.delta = FlatVector(Delta(round, i));
    ASSERT_TRUE(engine.SubmitUpdate(kClients[i], std::move(s)).ok());
  }
  engine.Tick();
  ASSERT_EQ(engine.model_version(), round);
}

std::unique_ptr<RoundEngine> StartEngine(RoundEngineConfig config,
                                         FlatModel initial, uint64_t start,
                                         const Clock* clock) {
  absl::StatusOr<std::unique_ptr<RoundEngine>> engine = RoundEngine::Create(
      std::move(config), std::move(initial), start, clock, nullptr);
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return nullptr;
  for (const std::string& id : kClients) {
    EXPECT_TRUE((*engine)->Register(id, 10).ok());
  }
  return *std::move(engine);
}

class StrategyResumeTest : public ::testing::TestWithParam<Kind> {
 protected:
  std::unique_ptr<FileRunStore> OpenStore(const std::string& name) {
    absl::StatusOr<std::unique_ptr<FileRunStore>> store =
        FileRunStore::Open(dir_.path() + "/" + name);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  testing_util::ScopedTempDir dir_;
  FakeClock clock_;
  const FlatModel initial_ = Model({0.5f, -1.25f, 2.0f});
};

TEST_P(StrategyResumeTest, ResumedRunReleasesTheUninterruptedThirdRound) {
  std::unique_ptr<FileRunStore> whole_store = OpenStore("whole");
  auto whole = StartEngine(EngineConfig(GetParam()),
                           FlatModel{initial_.spec, initial_.values.Clone()}, 1,
                           &clock_);
  whole->AddListener(whole_store.get());
  for (uint64_t r = 1; r <= 3; ++r) RunRound(*whole, r);

  // Interrupted: two rounds, then a new engine from the state directory,
  // as the coordinator's ResumeOrStartRun builds it.
  std::unique_ptr<FileRunStore> store = OpenStore("resumed");
  {
    RoundEngineConfig config = EngineConfig(GetParam());
    config.num_rounds = 2;
    auto first = StartEngine(
        config, FlatModel{initial_.spec, initial_.values.Clone()}, 1, &clock_);
    first->AddListener(store.get());
    for (uint64_t r = 1; r <= 2; ++r) RunRound(*first, r);
  }
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store->LoadCheckpoint();
  ASSERT_TRUE(cp.ok()) << cp.status();
  ASSERT_TRUE(cp->has_value());
  ASSERT_EQ((*cp)->completed_round, 2u);
  ASSERT_TRUE((*cp)->strategy.has_value());
  EXPECT_EQ((*cp)->strategy->steps, 2u);
  RoundEngineConfig config = EngineConfig(GetParam());
  ASSERT_TRUE(
      CheckStrategyResumable(config.strategy, (*cp)->strategy, 2, kRun).ok());
  config.strategy_state = (*cp)->strategy;
  auto resumed = StartEngine(config, std::move((*cp)->model), 3, &clock_);
  resumed->AddListener(store.get());
  RunRound(*resumed, 3);

  EXPECT_TRUE(
      SameBits(resumed->global_model()->values, whole->global_model()->values));
  absl::StatusOr<std::optional<RunCheckpoint>> a =
      whole_store->LoadCheckpoint();
  absl::StatusOr<std::optional<RunCheckpoint>> b = store->LoadCheckpoint();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->strategy.has_value() && (*b)->strategy.has_value());
  const ServerOptimizerState& sa = *(*a)->strategy;
  const ServerOptimizerState& sb = *(*b)->strategy;
  EXPECT_EQ(sa.steps, 3u);
  EXPECT_EQ(sb.steps, 3u);
  ASSERT_EQ(sa.m.size(), sb.m.size());
  ASSERT_EQ(sa.v.size(), sb.v.size());
  EXPECT_EQ(std::memcmp(sa.m.data(), sb.m.data(), 4 * sa.m.size()), 0);
  EXPECT_EQ(std::memcmp(sa.v.data(), sb.v.data(), 4 * sa.v.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Stateful, StrategyResumeTest,
                         ::testing::Values(Kind::kFedAvgM, Kind::kFedAdagrad,
                                           Kind::kFedAdam, Kind::kFedYogi),
                         [](const auto& info) {
                           return std::string(ServerOptimizerName(info.param));
                         });

class StrategyStoreTest : public StrategyResumeTest {
 protected:
  // Two fedadam rounds recorded in `store`.
  void RunTwoRounds(FileRunStore& store) {
    RoundEngineConfig config = EngineConfig(Kind::kFedAdam);
    config.num_rounds = 2;
    auto engine = StartEngine(
        config, FlatModel{initial_.spec, initial_.values.Clone()}, 1, &clock_);
    engine->AddListener(&store);
    for (uint64_t r = 1; r <= 2; ++r) RunRound(*engine, r);
  }
};

TEST_F(StrategyStoreTest, CheckpointNamesTheStateFileByNameAndDigest) {
  std::unique_ptr<FileRunStore> store = OpenStore("s");
  RunTwoRounds(*store);
  absl::StatusOr<std::string> text = ReadFileToString(store->CheckpointPath());
  ASSERT_TRUE(text.ok());
  const nlohmann::json j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["strategy"]["optimizer"], "fedadam");
  EXPECT_EQ(j["strategy"]["file"], "strategy/round-000002.fstate");
  EXPECT_EQ(j["strategy"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_TRUE(std::filesystem::exists(store->StrategyStatePath(1)));
  EXPECT_TRUE(std::filesystem::exists(store->StrategyStatePath(2)));
}

TEST_F(StrategyStoreTest, ACorruptTruncatedOrSwappedStateFileIsDataLoss) {
  std::unique_ptr<FileRunStore> store = OpenStore("s");
  RunTwoRounds(*store);
  const std::string path = store->StrategyStatePath(2);
  absl::StatusOr<std::string> good = ReadFileToString(path);
  ASSERT_TRUE(good.ok());
  absl::StatusOr<std::string> older =
      ReadFileToString(store->StrategyStatePath(1));
  ASSERT_TRUE(older.ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"truncated", good->substr(0, good->size() / 2)},
      {"flipped", std::string(*good).replace(40, 1, "\x7f")},
      {"swapped for round 1's", *older},
  };
  for (const auto& [name, bytes] : cases) {
    ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
    absl::StatusOr<std::optional<RunCheckpoint>> cp = store->LoadCheckpoint();
    ASSERT_FALSE(cp.ok()) << name;
    EXPECT_EQ(cp.status().code(), absl::StatusCode::kDataLoss) << name;
    EXPECT_THAT(std::string(cp.status().message()),
                HasSubstr("is not the optimizer state the checkpoint names"))
        << name;
  }
  std::filesystem::remove(path);
  absl::StatusOr<std::optional<RunCheckpoint>> missing =
      store->LoadCheckpoint();
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("names the server optimizer state"));
}

TEST_F(StrategyStoreTest, AFedAvgRunWritesNoOptimizerState) {
  std::unique_ptr<FileRunStore> store = OpenStore("s");
  auto engine = StartEngine(EngineConfig(Kind::kFedAvg),
                            FlatModel{initial_.spec, initial_.values.Clone()},
                            1, &clock_);
  engine->AddListener(store.get());
  RunRound(*engine, 1);
  absl::StatusOr<std::string> text = ReadFileToString(store->CheckpointPath());
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(nlohmann::json::parse(*text).contains("strategy"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/s/strategy"));
  absl::StatusOr<std::optional<RunCheckpoint>> cp = store->LoadCheckpoint();
  ASSERT_TRUE(cp.ok());
  EXPECT_FALSE((*cp)->strategy.has_value());
}

// ReleaseRound steps the optimizer it is given and hands its new state to
// the listeners in the summary; without one it is FedAvg (no state).
TEST(StrategyReleaseTest, ReleaseRoundStepsTheContextsOptimizer) {
  ServerOptimizerConfig adam;
  adam.kind = Kind::kFedAdam;
  auto optimizer = *CreateServerOptimizer(adam, 1.0, 2, std::nullopt);
  const FlatModel global = Model({1.0f, -1.0f});
  auto release = [&](ServerOptimizer* o) {
    RoundAggregate a;
    a.update_sum = {0.4f, -0.2f};
    a.divisor = 2.0;
    a.participants = 2;
    ReleaseContext context;
    context.run_id = kRun;
    context.round = 1;
    context.attempt = 1;
    context.optimizer = o;
    return ReleaseRound(std::move(a), global, std::move(context));
  };
  absl::StatusOr<ReleasedRound> stepped = release(optimizer.get());
  ASSERT_TRUE(stepped.ok()) << stepped.status();
  ASSERT_NE(stepped->summary.strategy_state, nullptr);
  EXPECT_EQ(stepped->summary.strategy_state, optimizer->state());
  EXPECT_EQ(stepped->summary.strategy_state->steps, 1u);
  // delta = {0.2, -0.1}: m = 0.1 delta, sqrt(v) = 0.1 |delta|, so each value
  // moves by eta * 0.1 delta / (0.1 |delta| + tau).
  EXPECT_NEAR(stepped->next.values[0], 1.0 + 0.1 * 0.02 / (0.02 + 1e-3), 1e-6);
  EXPECT_NEAR(stepped->next.values[1], -1.0 - 0.1 * 0.01 / (0.01 + 1e-3), 1e-6);
  absl::StatusOr<ReleasedRound> plain = release(nullptr);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->summary.strategy_state, nullptr);
  EXPECT_FLOAT_EQ(plain->next.values[0], 1.2f);
  EXPECT_FLOAT_EQ(plain->next.values[1], -1.1f);
  // The metrics line names the optimizer of a stateful run only.
  EXPECT_THAT(RoundSummaryToJson(stepped->summary, 0),
              HasSubstr("\"strategy\":\"fedadam\""));
  EXPECT_THAT(RoundSummaryToJson(plain->summary, 0),
              Not(HasSubstr("\"strategy\":")));
}

TEST(StrategyConfigTest, TomlKeysReachTheEngineConfig) {
  absl::StatusOr<CoordinatorConfig> c = ParseCoordinatorConfig(
      "[strategy]\nname = \"fedyogi\"\neta = 0.02\nbeta_1 = 0.5\n"
      "beta_2 = 0.9\ntau = 0.01\ninitial_v = 1e-4\n",
      "test.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  const ServerOptimizerConfig& s = c->engine.strategy;
  EXPECT_EQ(s.kind, Kind::kFedYogi);
  EXPECT_DOUBLE_EQ(s.eta, 0.02);
  EXPECT_DOUBLE_EQ(s.beta_1, 0.5);
  EXPECT_DOUBLE_EQ(s.beta_2, 0.9);
  EXPECT_DOUBLE_EQ(s.tau, 0.01);
  EXPECT_DOUBLE_EQ(s.initial_v, 1e-4);
}

TEST(StrategyConfigTest, BadStrategySettingsAreRefusedAtLoadNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[strategy]\nname = \"fedsgd\"\n", "strategy.name"},
      {"[strategy]\nname = \"fedadam\"\nbeta_1 = 1.0\n", "strategy.beta_1"},
      {"[strategy]\nname = \"fedadam\"\ntau = 0.0\n", "strategy.tau"},
      {"[strategy]\nname = \"fedadam\"\neta = -0.1\n", "strategy.eta"},
      {"[strategy]\nname = \"fedadam\"\n[rounds]\nserver_learning_rate = "
       "0.5\n",
       "rounds.server_learning_rate"},
      {"[strategy]\nname = \"fedyogi\"\nbias_correction = \"adam\"\n",
       "strategy.bias_correction"},
      {"[strategy]\nname = \"fedavgm\"\nmomentum = 1.0\n", "strategy.momentum"},
  };
  for (const auto& [toml, key] : cases) {
    absl::StatusOr<CoordinatorConfig> c = ParseCoordinatorConfig(toml, "t");
    absl::Status s = c.ok() ? ValidateCoordinatorConfig(*c) : c.status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << toml;
    EXPECT_THAT(std::string(s.message()), HasSubstr(key)) << toml;
  }
}

}  // namespace
}  // namespace fedlearn
