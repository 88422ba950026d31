#include "common/wire/proto_conversion.h"

#include <chrono>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ModelSpec ExampleSpec() {
  ModelSpec spec;
  spec.architecture = "lenet5";
  spec.tensors.push_back(
      TensorSpec{"conv1.weight", {6, 1, 5, 5}, DType::kFloat32});
  spec.tensors.push_back(TensorSpec{"conv1.bias", {6}, DType::kFloat32});
  spec.tensors.push_back(TensorSpec{"fc.weight", {10, 84}, DType::kFloat32});
  return spec;
}

v1::TensorSpec* AddTensor(v1::ModelSpec* proto, const std::string& name,
                          std::initializer_list<int64_t> shape,
                          v1::DType dtype = v1::DTYPE_FLOAT32) {
  v1::TensorSpec* t = proto->add_tensors();
  t->set_name(name);
  for (int64_t d : shape) t->add_shape(d);
  t->set_dtype(dtype);
  return t;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(ModelSpecConversionTest, RoundTripPreservesEverything) {
  const ModelSpec spec = ExampleSpec();
  const v1::ModelSpec proto = ToProto(spec);
  ASSERT_EQ(proto.tensors_size(), 3);
  EXPECT_EQ(proto.tensors(0).dtype(), v1::DTYPE_FLOAT32);
  absl::StatusOr<ModelSpec> back = FromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->architecture, "lenet5");
  ASSERT_EQ(back->tensors.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(back->tensors[i], spec.tensors[i]) << i;
  EXPECT_EQ(back->NumElements(), 150 + 6 + 840);
}

TEST(ModelSpecConversionTest, AcceptsExactlyTheLimit) {
  v1::ModelSpec proto;
  AddTensor(&proto, "a", {int64_t{1} << 27});
  AddTensor(&proto, "b", {1 << 13, 1 << 14});
  absl::StatusOr<ModelSpec> spec = FromProto(proto);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->NumElements(), kMaxModelValues);
}

TEST(ModelSpecConversionTest, RejectsEmptyName) {
  v1::ModelSpec proto;
  AddTensor(&proto, "", {3});
  EXPECT_EQ(FromProto(proto).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelSpecConversionTest, RejectsDuplicateNames) {
  v1::ModelSpec proto;
  AddTensor(&proto, "w", {3});
  AddTensor(&proto, "b", {1});
  AddTensor(&proto, "w", {3});
  absl::StatusOr<ModelSpec> spec = FromProto(proto);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(spec.status()), HasSubstr("'w'"));
}

TEST(ModelSpecConversionTest, RejectsZeroAndNegativeDimensions) {
  for (int64_t bad :
       {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
    v1::ModelSpec proto;
    AddTensor(&proto, "w", {4, bad, 2});
    EXPECT_EQ(FromProto(proto).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(ModelSpecConversionTest, RejectsNonFloat32Dtype) {
  v1::ModelSpec proto;
  AddTensor(&proto, "w", {3}, v1::DTYPE_UNSPECIFIED);
  absl::StatusOr<ModelSpec> spec = FromProto(proto);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(spec.status()), HasSubstr("float32"));

  v1::ModelSpec unknown;
  AddTensor(&unknown, "w", {3}, static_cast<v1::DType>(7));
  EXPECT_EQ(FromProto(unknown).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelSpecConversionTest, RejectsNoTensors) {
  EXPECT_EQ(FromProto(v1::ModelSpec()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelSpecConversionTest,
     RejectsTotalsAboveTheLimitWithoutOverflowOrAllocation) {
  struct Case {
    const char* name;
    v1::ModelSpec proto;
  };
  std::vector<Case> cases;
  {
    v1::ModelSpec p;  // one tensor just over the limit
    AddTensor(&p, "w", {(int64_t{1} << 28) + 1});
    cases.push_back({"one tensor", p});
  }
  {
    v1::ModelSpec p;  // each tensor fits, the sum does not
    AddTensor(&p, "a", {int64_t{1} << 27});
    AddTensor(&p, "b", {int64_t{1} << 27});
    AddTensor(&p, "c", {1});
    cases.push_back({"sum", p});
  }
  {
    v1::ModelSpec p;  // product of in-range dims that would overflow int64
    AddTensor(&p, "w", {1 << 28, 1 << 28, 1 << 28, 1 << 28});
    cases.push_back({"product overflow", p});
  }
  {
    v1::ModelSpec p;  // a single absurd dimension
    AddTensor(&p, "w", {std::numeric_limits<int64_t>::max()});
    cases.push_back({"int64 max", p});
  }
  {
    v1::ModelSpec p;  // many tensors of 2^20 (the sum must be tracked)
    for (int i = 0; i < 300; ++i)
      AddTensor(&p, "t" + std::to_string(i), {1 << 20});
    cases.push_back({"many tensors", p});
  }
  const auto start = std::chrono::steady_clock::now();
  for (const Case& c : cases) {
    absl::StatusOr<ModelSpec> spec = FromProto(c.proto);
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
  }
  // Nothing proportional to the claimed size may be done.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(TrainingConfigConversionTest, RoundTripPreservesEverything) {
  TrainingConfig config;
  config.optimizer = TrainingConfig::Optimizer::kAdam;
  config.learning_rate = 0.003;
  config.momentum = 0.25;
  config.weight_decay = 1e-4;
  config.local_epochs = 4;
  config.batch_size = 128;
  config.seed = 0xDEADBEEFCAFEull;
  absl::StatusOr<TrainingConfig> back = FromProto(ToProto(config));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->optimizer, TrainingConfig::Optimizer::kAdam);
  EXPECT_EQ(back->learning_rate, 0.003);
  EXPECT_EQ(back->momentum, 0.25);
  EXPECT_EQ(back->weight_decay, 1e-4);
  EXPECT_EQ(back->local_epochs, 4);
  EXPECT_EQ(back->batch_size, 128);
  EXPECT_EQ(back->seed, 0xDEADBEEFCAFEull);

  config.optimizer = TrainingConfig::Optimizer::kSgd;
  back = FromProto(ToProto(config));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->optimizer, TrainingConfig::Optimizer::kSgd);
}

v1::TrainingConfig ValidTrainingProto() { return ToProto(TrainingConfig()); }

TEST(TrainingConfigConversionTest, ProximalMuRoundTripsAndDefaultsToZero) {
  TrainingConfig config;
  config.proximal_mu = 0.25;
  absl::StatusOr<TrainingConfig> back = FromProto(ToProto(config));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->proximal_mu, 0.25);
  // A coordinator that never sets the field (or predates it) means FedAvg.
  v1::TrainingConfig proto = ValidTrainingProto();
  proto.clear_proximal_mu();
  back = FromProto(proto);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->proximal_mu, 0.0);
}

TEST(TrainingConfigConversionTest, RejectsANegativeOrNonFiniteProximalMu) {
  for (double mu : {-0.01, std::numeric_limits<double>::quiet_NaN(),
                    std::numeric_limits<double>::infinity()}) {
    v1::TrainingConfig proto = ValidTrainingProto();
    proto.set_proximal_mu(mu);
    EXPECT_EQ(FromProto(proto).status().code(),
              absl::StatusCode::kInvalidArgument)
        << mu;
  }
}

TEST(TrainingConfigConversionTest, DefaultConfigIsValid) {
  EXPECT_TRUE(FromProto(ValidTrainingProto()).ok());
}

TEST(TrainingConfigConversionTest, RejectsBadLearningRates) {
  for (double lr : {0.0, -0.1, std::numeric_limits<double>::quiet_NaN(),
                    std::numeric_limits<double>::infinity()}) {
    v1::TrainingConfig proto = ValidTrainingProto();
    proto.set_learning_rate(lr);
    EXPECT_EQ(FromProto(proto).status().code(),
              absl::StatusCode::kInvalidArgument)
        << lr;
  }
}

TEST(TrainingConfigConversionTest, RejectsZeroEpochsAndBatchSize) {
  v1::TrainingConfig epochs = ValidTrainingProto();
  epochs.set_local_epochs(0);
  EXPECT_EQ(FromProto(epochs).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::TrainingConfig batch = ValidTrainingProto();
  batch.set_batch_size(0);
  EXPECT_EQ(FromProto(batch).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::TrainingConfig huge_epochs = ValidTrainingProto();
  huge_epochs.set_local_epochs(std::numeric_limits<uint32_t>::max());
  EXPECT_FALSE(FromProto(huge_epochs).ok()) << "would wrap negative as int";
}

TEST(TrainingConfigConversionTest, RejectsUnspecifiedOptimizer) {
  v1::TrainingConfig proto = ValidTrainingProto();
  proto.set_optimizer(v1::TrainingConfig::OPTIMIZER_UNSPECIFIED);
  absl::StatusOr<TrainingConfig> config = FromProto(proto);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config.status()), HasSubstr("optimizer"));
}

TEST(TrainingConfigConversionTest, RejectsNegativeOrNonFiniteMomentumAndDecay) {
  for (double bad : {-0.5, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    v1::TrainingConfig momentum = ValidTrainingProto();
    momentum.set_momentum(bad);
    EXPECT_FALSE(FromProto(momentum).ok()) << bad;
    v1::TrainingConfig decay = ValidTrainingProto();
    decay.set_weight_decay(bad);
    EXPECT_FALSE(FromProto(decay).ok()) << bad;
  }
}

}  // namespace
}  // namespace fedlearn
