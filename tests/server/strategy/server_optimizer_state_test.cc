// The optimizer state's file format, restoring an optimizer from it bit for
// bit, and the refusals of configs and resumes that cannot work.
#include "server/strategy/server_optimizer_state.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/strategy/server_optimizer.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using Kind = ServerOptimizerConfig::Kind;

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

FlatModel Model(std::vector<float> values) {
  FlatModel m;
  m.spec.architecture = "test";
  m.spec.tensors.push_back(
      TensorSpec{"w", {static_cast<int64_t>(values.size())}, DType::kFloat32});
  m.values = FlatVector(std::move(values));
  return m;
}

std::vector<float> Values(const FlatModel& m) {
  return std::vector<float>(m.values.data(), m.values.data() + m.values.size());
}

SavedOptimizerState Sample() {
  SavedOptimizerState s;
  s.run_id = "run-7";
  s.round = 7;
  s.state.optimizer = "fedadam";
  s.state.steps = 7;
  s.state.m = {-0.0f, 1.5f, std::numeric_limits<float>::denorm_min(),
               -3.25e-20f};
  s.state.v = {0.0f, 2.25f, 1e-30f, std::numeric_limits<float>::max()};
  return s;
}

TEST(OptimizerStateFileTest, RoundTripsEveryBit) {
  const SavedOptimizerState in = Sample();
  absl::StatusOr<SavedOptimizerState> out =
      DecodeOptimizerState(EncodeOptimizerState(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->run_id, "run-7");
  EXPECT_EQ(out->round, 7u);
  EXPECT_EQ(out->state.optimizer, "fedadam");
  EXPECT_EQ(out->state.steps, 7u);
  EXPECT_TRUE(SameBits(out->state.m, in.state.m));  // -0.0 stays -0.0
  EXPECT_TRUE(SameBits(out->state.v, in.state.v));
}

TEST(OptimizerStateFileTest, EveryTruncationIsDataLoss) {
  const std::string bytes = EncodeOptimizerState(Sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::StatusOr<SavedOptimizerState> out =
        DecodeOptimizerState(bytes.substr(0, n));
    ASSERT_FALSE(out.ok()) << n;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss) << n;
    EXPECT_THAT(std::string(out.status().message()),
                HasSubstr("server optimizer state file"))
        << n;
  }
}

TEST(OptimizerStateFileTest, AFlippedByteAnywhereIsDataLoss) {
  const std::string bytes = EncodeOptimizerState(Sample());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string corrupt = bytes;
    corrupt[i] ^= 0x10;
    absl::StatusOr<SavedOptimizerState> out = DecodeOptimizerState(corrupt);
    ASSERT_FALSE(out.ok()) << i;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss) << i;
  }
  std::string payload = bytes;
  payload[bytes.size() - 70] ^= 0x01;  // inside v, checksum kept
  EXPECT_THAT(std::string(DecodeOptimizerState(payload).status().message()),
              HasSubstr("SHA-256 does not match"));
}

TEST(OptimizerStateFileTest, AnotherVersionIsRefusedEvenWithAValidChecksum) {
  std::string bytes = EncodeOptimizerState(Sample());
  std::string body = bytes.substr(0, bytes.size() - 64);
  body[8] = 2;  // version 2
  absl::StatusOr<SavedOptimizerState> out =
      DecodeOptimizerState(body + Sha256Hex(body));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("version 2"));
}

TEST(OptimizerStateFileTest, LyingSizesWithAValidChecksumAreDataLoss) {
  std::string bytes = EncodeOptimizerState(Sample());
  std::string body = bytes.substr(0, bytes.size() - 64);
  // |m| sits after magic, version, two strings, round and steps.
  const size_t m_size_at = 8 + 4 + (4 + 7) + (4 + 5) + 8 + 8;
  body[m_size_at] = 100;
  absl::StatusOr<SavedOptimizerState> out =
      DecodeOptimizerState(body + Sha256Hex(body));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss);
}

// Two rounds, save, decode, a new optimizer from the file: its third round
// equals an uninterrupted optimizer's third round, model and state.
TEST(OptimizerResumeTest, ARestoredOptimizerContinuesBitForBit) {
  const std::vector<std::vector<float>> sums = {{0.3f, -0.6f, 0.9f, 1e-3f},
                                                {-0.2f, 0.4f, 0.1f, 0.0f},
                                                {0.05f, 0.0f, -0.4f, 2.0f}};
  for (Kind kind :
       {Kind::kFedAvgM, Kind::kFedAdagrad, Kind::kFedAdam, Kind::kFedYogi}) {
    ServerOptimizerConfig config;
    config.kind = kind;
    config.nesterov = true;
    if (kind == Kind::kFedAdam) {
      config.bias_correction = ServerOptimizerConfig::BiasCorrection::kAdam;
    }
    auto make = [&](std::optional<ServerOptimizerState> restored) {
      return *CreateServerOptimizer(config, 1.0, 4, std::move(restored));
    };
    auto step = [](ServerOptimizer& o, FlatModel& w,
                   const std::vector<float>& sum) {
      absl::StatusOr<FlatModel> next = o.Step(w, AggregatedDelta{sum, 3.0});
      ASSERT_TRUE(next.ok()) << next.status();
      w = *std::move(next);
    };
    auto uninterrupted = make(std::nullopt);
    auto first = make(std::nullopt);
    FlatModel a = Model({0.5f, -1.25f, 2.0f, 0.0f});
    FlatModel b = Model({0.5f, -1.25f, 2.0f, 0.0f});
    for (int r = 0; r < 2; ++r) {
      step(*uninterrupted, a, sums[r]);
      step(*first, b, sums[r]);
    }
    absl::StatusOr<SavedOptimizerState> saved =
        DecodeOptimizerState(EncodeOptimizerState({"run", 2, *first->state()}));
    ASSERT_TRUE(saved.ok()) << saved.status();
    auto resumed = make(saved->state);
    step(*uninterrupted, a, sums[2]);
    step(*resumed, b, sums[2]);
    const char* name = ServerOptimizerName(kind);
    EXPECT_TRUE(SameBits(Values(a), Values(b))) << name;
    EXPECT_TRUE(SameBits(uninterrupted->state()->m, resumed->state()->m));
    EXPECT_TRUE(SameBits(uninterrupted->state()->v, resumed->state()->v));
    EXPECT_EQ(resumed->state()->steps, 3u) << name;
  }
}

TEST(OptimizerResumeTest, ARestoredStateThatDoesNotFitIsRefused) {
  ServerOptimizerConfig adam;
  adam.kind = Kind::kFedAdam;
  ServerOptimizerState s{"fedadam", 1, {0, 0, 0}, {0, 0, 0}};
  EXPECT_TRUE(CreateServerOptimizer(adam, 1.0, 3, s).ok());
  EXPECT_EQ(CreateServerOptimizer(adam, 1.0, 4, s).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ServerOptimizerState yogi = s;
  yogi.optimizer = "fedyogi";
  EXPECT_THAT(
      std::string(CreateServerOptimizer(adam, 1.0, 3, yogi).status().message()),
      HasSubstr("fedyogi's, but the run is configured for fedadam"));
  ServerOptimizerState negative = s;
  negative.v[1] = -1.0f;
  EXPECT_EQ(CreateServerOptimizer(adam, 1.0, 3, negative).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ServerOptimizerState nan = s;
  nan.m[0] = std::nanf("");
  EXPECT_EQ(CreateServerOptimizer(adam, 1.0, 3, nan).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      CreateServerOptimizer(ServerOptimizerConfig{}, 1.0, 3, s).status().code(),
      absl::StatusCode::kFailedPrecondition);
}

struct Refusal {
  const char* name;
  void (*set)(ServerOptimizerConfig&, double&);
  const char* message;
};

TEST(ServerOptimizerConfigTest, RefusesSettingsNoRoundCouldUse) {
  const std::vector<Refusal> refusals = {
      {"beta_1 = 1", [](auto& c, double&) { c.beta_1 = 1.0; },
       "strategy.beta_1 must be in [0, 1)"},
      {"beta_2 < 0", [](auto& c, double&) { c.beta_2 = -0.1; },
       "strategy.beta_2 must be in [0, 1)"},
      {"tau = 0", [](auto& c, double&) { c.tau = 0; },
       "strategy.tau must be positive"},
      {"eta < 0", [](auto& c, double&) { c.eta = -1; },
       "strategy.eta must be positive"},
      {"eta nan", [](auto& c, double&) { c.eta = std::nan(""); },
       "strategy.eta must be positive"},
      {"initial_v < 0", [](auto& c, double&) { c.initial_v = -1; },
       "strategy.initial_v"},
      {"adaptive with lr", [](auto&, double& lr) { lr = 0.5; },
       "leave rounds.server_learning_rate at 1"},
      {"bias correction for yogi",
       [](auto& c, double&) {
         c.kind = Kind::kFedYogi;
         c.bias_correction = ServerOptimizerConfig::BiasCorrection::kAdam;
       },
       "strategy.bias_correction applies to fedadam only"},
      {"momentum = 1",
       [](auto& c, double&) {
         c.kind = Kind::kFedAvgM;
         c.momentum = 1.0;
       },
       "strategy.momentum must be in [0, 1)"},
  };
  for (const Refusal& r : refusals) {
    ServerOptimizerConfig c;
    c.kind = Kind::kFedAdam;
    double lr = 1.0;
    r.set(c, lr);
    absl::Status s = c.Validate(lr);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << r.name;
    EXPECT_THAT(std::string(s.message()), HasSubstr(r.message)) << r.name;
  }
  ServerOptimizerConfig fedavgm;
  fedavgm.kind = Kind::kFedAvgM;
  EXPECT_TRUE(fedavgm.Validate(0.5).ok());  // its step is the server lr
  EXPECT_TRUE(ServerOptimizerConfig{}.Validate(0.5).ok());
}

TEST(ServerOptimizerConfigTest, EtaZeroMeansFlowersDefaultPerOptimizer) {
  ServerOptimizerConfig c;
  c.kind = Kind::kFedAdam;
  EXPECT_DOUBLE_EQ(c.EffectiveEta(), 0.1);
  c.kind = Kind::kFedAdagrad;
  EXPECT_DOUBLE_EQ(c.EffectiveEta(), 0.1);
  c.kind = Kind::kFedYogi;
  EXPECT_DOUBLE_EQ(c.EffectiveEta(), 0.01);
  c.eta = 0.3;
  EXPECT_DOUBLE_EQ(c.EffectiveEta(), 0.3);
}

TEST(StrategyResumeCheckTest, RefusesAnotherOptimizerOrAMissingState) {
  ServerOptimizerConfig adam;
  adam.kind = Kind::kFedAdam;
  const ServerOptimizerState yogi{"fedyogi", 2, {0}, {0}};
  absl::Status other = CheckStrategyResumable(adam, yogi, 2, "r");
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(other.message()),
              HasSubstr("trained with [strategy] name = \"fedyogi\""));
  absl::Status missing = CheckStrategyResumable(adam, std::nullopt, 3, "r");
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(missing.message()),
              HasSubstr("released 3 round(s) with fedavg"));
  // Nothing released yet: the optimizer starts fresh.
  EXPECT_TRUE(CheckStrategyResumable(adam, std::nullopt, 0, "r").ok());
  // A FedAvg run resumes as FedAvg; a stateful run not as FedAvg.
  EXPECT_TRUE(
      CheckStrategyResumable(ServerOptimizerConfig{}, std::nullopt, 5, "r")
          .ok());
  EXPECT_EQ(
      CheckStrategyResumable(ServerOptimizerConfig{}, yogi, 2, "r").code(),
      absl::StatusCode::kFailedPrecondition);
  adam.kind = Kind::kFedYogi;
  EXPECT_TRUE(CheckStrategyResumable(adam, yogi, 2, "r").ok());
}

}  // namespace
}  // namespace fedlearn
