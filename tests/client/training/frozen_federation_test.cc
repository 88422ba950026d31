// A small in-process federation fine-tuning a pre-trained LeNet-5's last
// layer: the real RoundEngine (plaintext FedAvg), three sites prepared by
// SitePreparer from the run contract, the TorchTrainer, and the
// coordinator's TorchEvaluator. Pins that only the trainable tensors travel
// (D_trainable float32 values per update), that frozen tensors stay bit for
// bit the base's at every site, and that a site with another base refuses.
#include <atomic>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/site_preparer.h"
#include "client/training/torch_trainer.h"
#include "common/models/model_factory.h"
#include "common/util/clock.h"
#include "common/wire/model_file.h"
#include "common/wire/run_contract.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/evaluation/torch_evaluator.h"
#include "server/round/round_engine.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;

constexpr int kSites = 3;
constexpr int kRounds = 3;
constexpr int64_t kLastLayer = 84 * 10 + 10;  // fc3.weight, fc3.bias
constexpr int64_t kLeNet5 = 61706;

ModelSource LeNet5() {
  ModelSource source;
  source.architecture = "lenet5";
  source.input_shape = {1, 28, 28};
  source.num_classes = 10;
  return source;
}

// Images whose label shifts their mean brightness: learnable, not trivial.
Dataset Images(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  Dataset data;
  data.sample_shape = {1, 28, 28};
  data.num_classes = 10;
  for (int i = 0; i < n; ++i) {
    const int label = i % 10;
    for (int p = 0; p < 28 * 28; ++p) {
      data.features.push_back(0.2f * label + noise(rng));
    }
    data.labels.push_back(label);
  }
  return data;
}

class FrozenFederationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetTorchThreads(1);
    // The pre-trained base: another seed's LeNet-5, as a model file.
    absl::StatusOr<FlatModel> base = CreateInitialModel(LeNet5(), 99);
    ASSERT_TRUE(base.ok());
    base_ = *std::move(base);
    base_path_ = dir_.path() + "/base.fmodel";
    ASSERT_TRUE(WriteModelFile(base_path_, v1::RoundRef(), base_).ok());
    coordinator_ = LeNet5();
    coordinator_.initial_weights = base_path_;
    coordinator_.trainable = {"fc3.*"};
    absl::StatusOr<FlatModel> initial =
        CreateInitialModel(coordinator_, 1, &coordinator_.base_weights_sha256);
    ASSERT_TRUE(initial.ok()) << initial.status();
    initial_ = *std::move(initial);
    contract_.set_run_id("finetune");
    *contract_.mutable_model() = ToModelDefinition(coordinator_, initial_.spec);
  }

  std::unique_ptr<SitePreparer> Site(const std::string& base, uint32_t seed) {
    SitePreparerOptions options;
    options.base_weights_path = base;
    return std::make_unique<SitePreparer>(options, Images(40, seed));
  }

  RoundEngineConfig EngineConfig() const {
    RoundEngineConfig c;
    c.secagg.enabled = false;
    c.run_id = "finetune";
    c.num_rounds = kRounds;
    c.min_clients = kSites;
    c.clients_per_round = 0;
    c.fraction = 1.0;
    c.min_updates = kSites;
    c.round_timeout = std::chrono::seconds(60);
    c.client_liveness = std::chrono::hours(1);
    c.max_examples_per_update = 1000;
    c.training.learning_rate = 0.05;
    c.training.local_epochs = 1;
    c.training.batch_size = 8;
    c.contract = contract_;
    return c;
  }

  testing_util::ScopedTempDir dir_;
  FlatModel base_;
  std::string base_path_;
  ModelSource coordinator_;
  FlatModel initial_;
  v1::RunContract contract_;
};

TEST_F(FrozenFederationTest, OnlyTheLastLayerTravelsAndTheRestStaysTheBase) {
  ASSERT_EQ(initial_.spec.NumElements(), kLastLayer);
  EXPECT_EQ(contract_.model().spec().tensors_size(), 2);
  EXPECT_EQ(contract_.model().base_weights_sha256().size(), 64u);
  // The evaluator sees the whole model: the frozen part from the base.
  absl::StatusOr<std::unique_ptr<TorchEvaluator>> frozen_eval =
      TorchEvaluator::Create(coordinator_, Images(50, 5));
  ModelSource unfrozen = LeNet5();
  unfrozen.initial_weights = base_path_;
  absl::StatusOr<std::unique_ptr<TorchEvaluator>> full_eval =
      TorchEvaluator::Create(unfrozen, Images(50, 5));
  ASSERT_TRUE(frozen_eval.ok() && full_eval.ok());
  absl::StatusOr<EvalMetrics> a = (*frozen_eval)->Evaluate(initial_.values);
  absl::StatusOr<EvalMetrics> b = (*full_eval)->Evaluate(base_.values);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->loss, b->loss);

  std::vector<std::unique_ptr<SitePreparer>> sites;
  std::vector<TorchTrainer*> trainers;
  for (int k = 0; k < kSites; ++k) {
    sites.push_back(Site(base_path_, 10 + k));
    absl::StatusOr<LocalTrainer*> trainer = sites.back()->Prepare(contract_);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    trainers.push_back(dynamic_cast<TorchTrainer*>(*trainer));
    ASSERT_NE(trainers.back(), nullptr);
  }
  FakeClock clock;
  absl::StatusOr<std::unique_ptr<RoundEngine>> engine = RoundEngine::Create(
      EngineConfig(), FlatModel{initial_.spec, initial_.values.Clone()}, 1,
      &clock, frozen_eval->get());
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::vector<std::string> ids = {"a", "b", "c"};
  for (const std::string& id : ids)
    ASSERT_TRUE((*engine)->Register(id, 40).ok());
  const std::atomic<bool> cancel{false};
  for (int round = 1; round <= kRounds; ++round) {
    (*engine)->Tick();
    for (int k = 0; k < kSites; ++k) {
      absl::StatusOr<FetchOutcome> fetched = (*engine)->FetchTask(ids[k]);
      ASSERT_TRUE(fetched.ok() && fetched->task.has_value()) << round;
      const Task& task = *fetched->task;
      absl::StatusOr<TrainingResult> result =
          trainers[k]->Train(task.model->values, task.training, cancel);
      ASSERT_TRUE(result.ok()) << result.status();
      // What the plaintext upload carries: the delta as float32 LE.
      std::string wire;
      AppendFloat32LE(result->delta.span(), &wire);
      EXPECT_EQ(wire.size(), size_t(kLastLayer) * 4);
      UpdateSubmission update;
      update.run_id = task.run_id;
      update.round = task.round;
      update.model_version = task.model_version;
      update.num_examples = result->num_examples;
      update.train_loss = result->train_loss;
      update.delta = std::move(result->delta);
      ASSERT_TRUE((*engine)->SubmitUpdate(ids[k], std::move(update)).ok());
    }
  }
  (*engine)->Tick();
  ASSERT_EQ((*engine)->model_version(), uint64_t(kRounds));
  const FlatModel& global = *(*engine)->global_model();
  EXPECT_EQ(global.values.size(), size_t(kLastLayer));
  EXPECT_NE(std::memcmp(global.values.data(), initial_.values.data(),
                        kLastLayer * sizeof(float)),
            0);
  // Every site's frozen tensors (all but the last 850 values) are the
  // base's, bit for bit.
  for (TorchTrainer* trainer : trainers) {
    const FlatModel full = trainer->FullModel();
    ASSERT_EQ(full.values.size(), size_t(kLeNet5));
    EXPECT_EQ(std::memcmp(full.values.data(), base_.values.data(),
                          (kLeNet5 - kLastLayer) * sizeof(float)),
              0);
  }
}

TEST_F(FrozenFederationTest, ASiteWithoutOrWithAnotherBaseRefuses) {
  absl::StatusOr<LocalTrainer*> none = Site("", 1)->Prepare(contract_);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(none.status().message(), HasSubstr("--base-weights FILE"));
  absl::StatusOr<FlatModel> other = CreateInitialModel(LeNet5(), 98);
  ASSERT_TRUE(other.ok());
  const std::string other_path = dir_.path() + "/other.fmodel";
  ASSERT_TRUE(WriteModelFile(other_path, v1::RoundRef(), *other).ok());
  absl::StatusOr<LocalTrainer*> wrong = Site(other_path, 1)->Prepare(contract_);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(wrong.status().message(),
              HasSubstr("differ from the run's: their SHA-256 is"));
  // Nothing frozen: the contract's digest and spec are as before freezing.
  ModelSource plain = LeNet5();
  std::string digest = "unset";
  absl::StatusOr<FlatModel> full = CreateInitialModel(plain, 1, &digest);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(digest, "");
  const v1::ModelDefinition def = ToModelDefinition(plain, full->spec);
  EXPECT_EQ(def.trainable_size() + def.frozen_size(), 0);
  EXPECT_TRUE(def.base_weights_sha256().empty());
}

}  // namespace
}  // namespace fedlearn
