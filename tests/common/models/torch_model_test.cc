#include "common/models/torch_model.h"

#include <ATen/Parallel.h>
#include <stdlib.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/models/model_factory.h"
#include "common/models/scripted_model_builder.h"
#include "gtest/gtest.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

class TorchModelTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(1); }
};

ModelSource Zoo(const std::string& architecture,
                std::vector<int64_t> input_shape, int32_t num_classes) {
  ModelSource source;
  source.architecture = architecture;
  source.input_shape = std::move(input_shape);
  source.num_classes = num_classes;
  return source;
}

ModelSource Scripted(const std::string& path) {
  ModelSource source;
  source.architecture = "torchscript";
  source.torchscript_path = path;
  return source;
}

std::unique_ptr<TorchModel> CreateOrDie(const ModelSource& source,
                                        uint64_t seed = 1) {
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(source, seed);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

std::vector<float> Values(const FlatVector& v) {
  return std::vector<float>(v.data(), v.data() + v.size());
}

TEST_F(TorchModelTest, LeNet5SpecListsLayersInOrderWith61706Parameters) {
  auto model = CreateOrDie(Zoo("lenet5", {1, 28, 28}, 10));
  ASSERT_NE(model, nullptr);
  const std::vector<TensorSpec> expected = {
      {"conv1.weight", {6, 1, 5, 5}},  {"conv1.bias", {6}},
      {"conv2.weight", {16, 6, 5, 5}}, {"conv2.bias", {16}},
      {"fc1.weight", {120, 400}},      {"fc1.bias", {120}},
      {"fc2.weight", {84, 120}},       {"fc2.bias", {84}},
      {"fc3.weight", {10, 84}},        {"fc3.bias", {10}},
  };
  EXPECT_EQ(model->Spec().architecture, "lenet5");
  EXPECT_EQ(model->Spec().tensors, expected);
  // 156 + 2416 + 48120 + 10164 + 850.
  EXPECT_EQ(model->Spec().NumElements(), 61706);
  EXPECT_EQ(model->ToFlat().size(), 61706u);
  EXPECT_EQ(model->Forward(torch::zeros({3, 1, 28, 28})).sizes(),
            (std::vector<int64_t>{3, 10}));
}

TEST_F(TorchModelTest, LeNet5AcceptsSeveralChannels) {
  auto model = CreateOrDie(Zoo("lenet5", {3, 28, 28}, 4));
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->Spec().tensors[0].shape, (std::vector<int64_t>{6, 3, 5, 5}));
  EXPECT_EQ(model->Forward(torch::zeros({2, 3, 28, 28})).sizes(),
            (std::vector<int64_t>{2, 4}));
}

TEST_F(TorchModelTest, LeNet5RefusesInputsThatAreNot28x28) {
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{1, 32, 32}, std::vector<int64_t>{784},
        std::vector<int64_t>{28, 28}}) {
    EXPECT_EQ(TorchModel::Create(Zoo("lenet5", shape, 10), 1).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(TorchModelTest, LogregAndMlpFlattenTheSample) {
  auto logreg = CreateOrDie(Zoo("logreg", {2, 3}, 4));
  ASSERT_NE(logreg, nullptr);
  EXPECT_EQ(logreg->Spec().tensors,
            (std::vector<TensorSpec>{{"linear.weight", {4, 6}},
                                     {"linear.bias", {4}}}));
  EXPECT_EQ(logreg->Forward(torch::zeros({5, 2, 3})).sizes(),
            (std::vector<int64_t>{5, 4}));

  ModelSource mlp_source = Zoo("mlp", {6}, 3);
  mlp_source.hidden_units = 7;
  auto mlp = CreateOrDie(mlp_source);
  ASSERT_NE(mlp, nullptr);
  EXPECT_EQ(mlp->Spec().tensors,
            (std::vector<TensorSpec>{{"fc1.weight", {7, 6}},
                                     {"fc1.bias", {7}},
                                     {"fc2.weight", {3, 7}},
                                     {"fc2.bias", {3}}}));
}

TEST_F(TorchModelTest, BadSourcesAreInvalidArgument) {
  ModelSource mlp = Zoo("mlp", {6}, 3);
  mlp.hidden_units = 0;
  for (const ModelSource& source :
       {Zoo("resnet", {6}, 3), Zoo("logreg", {6}, 1), Zoo("logreg", {}, 3),
        Zoo("logreg", {0, 3}, 3), mlp, Scripted("")}) {
    EXPECT_EQ(TorchModel::Create(source, 1).status().code(),
              absl::StatusCode::kInvalidArgument)
        << source.architecture;
  }
}

TEST_F(TorchModelTest, ToFlatLoadFlatRoundTripIsExact) {
  auto model = CreateOrDie(Zoo("lenet5", {1, 28, 28}, 10));
  ASSERT_NE(model, nullptr);
  std::vector<float> values(model->Spec().NumElements());
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = std::sin(static_cast<float>(i)) * 1e-3f * (i % 97);
  }
  ASSERT_TRUE(model->LoadFlat(FlatVector(values)).ok());
  EXPECT_EQ(Values(model->ToFlat()), values);
}

TEST_F(TorchModelTest, LoadFlatChangesWhatForwardComputes) {
  auto model = CreateOrDie(Zoo("logreg", {2}, 2));
  ASSERT_NE(model, nullptr);
  // weight = [[1, 0], [0, 1]], bias = [10, 20]: logits = x + bias.
  ASSERT_TRUE(model->LoadFlat(FlatVector({1, 0, 0, 1, 10, 20})).ok());
  const torch::Tensor logits = model->Forward(torch::tensor({{1.0f, 2.0f}}));
  EXPECT_FLOAT_EQ(logits[0][0].item<float>(), 11.0f);
  EXPECT_FLOAT_EQ(logits[0][1].item<float>(), 22.0f);
}

TEST_F(TorchModelTest, LoadFlatRefusesWrongSizeAndKeepsParameters) {
  auto model = CreateOrDie(Zoo("logreg", {4}, 3));
  ASSERT_NE(model, nullptr);
  const std::vector<float> before = Values(model->ToFlat());
  EXPECT_EQ(model->LoadFlat(FlatVector(before.size() - 1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->LoadFlat(FlatVector(before.size() + 1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Values(model->ToFlat()), before);
}

TEST_F(TorchModelTest, SameSeedGivesIdenticalInitialModel) {
  for (const char* arch : {"logreg", "mlp", "lenet5"}) {
    const ModelSource source = Zoo(arch, {1, 28, 28}, 10);
    absl::StatusOr<FlatModel> a = CreateInitialModel(source, 42);
    absl::StatusOr<FlatModel> b = CreateInitialModel(source, 42);
    ASSERT_TRUE(a.ok() && b.ok()) << arch;
    EXPECT_TRUE(a->spec.CompatibleWith(b->spec));
    EXPECT_EQ(Values(a->values), Values(b->values)) << arch;
  }
}

TEST_F(TorchModelTest, DifferentSeedsGiveDifferentInitialModels) {
  const ModelSource source = Zoo("lenet5", {1, 28, 28}, 10);
  absl::StatusOr<FlatModel> a = CreateInitialModel(source, 1);
  absl::StatusOr<FlatModel> b = CreateInitialModel(source, 2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(Values(a->values), Values(b->values));
}

TEST_F(TorchModelTest, InitialWeightsFollowPyTorchDefaultBound) {
  absl::StatusOr<FlatModel> model =
      CreateInitialModel(Zoo("logreg", {100}, 10), 3);
  ASSERT_TRUE(model.ok());
  float max_abs = 0;
  for (float v : model->values.span()) max_abs = std::max(max_abs, std::abs(v));
  // U(-1/sqrt(100), 1/sqrt(100)) over 1010 draws gets close to the bound.
  EXPECT_LE(max_abs, 0.1f);
  EXPECT_GT(max_abs, 0.09f);
}

TEST_F(TorchModelTest, ScriptedLinearClassifierLoadsAsTorchScript) {
  testing_util::ScopedTempDir tmp;
  const std::string path = tmp.File("linear_8x3.pt");
  ASSERT_TRUE(SaveScriptedLinearClassifier(path, 8, 3, 5).ok());
  auto model = CreateOrDie(Scripted(path));
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->Spec().architecture, "torchscript");
  EXPECT_EQ(model->Spec().tensors,
            (std::vector<TensorSpec>{{"weight", {3, 8}}, {"bias", {3}}}));
  // The input is flattened inside forward().
  EXPECT_EQ(model->Forward(torch::zeros({5, 2, 4})).sizes(),
            (std::vector<int64_t>{5, 3}));
  for (const torch::Tensor& p : model->Parameters()) {
    EXPECT_TRUE(p.requires_grad());
  }
}

TEST_F(TorchModelTest, ScriptedModelParametersFollowLoadFlat) {
  testing_util::ScopedTempDir tmp;
  const std::string path = tmp.File("linear_2x2.pt");
  ASSERT_TRUE(SaveScriptedLinearClassifier(path, 2, 2, 5).ok());
  auto model = CreateOrDie(Scripted(path));
  ASSERT_NE(model, nullptr);
  ASSERT_TRUE(model->LoadFlat(FlatVector({0, 1, 1, 0, 0.5f, -0.5f})).ok());
  const torch::Tensor logits = model->Forward(torch::tensor({{3.0f, 4.0f}}));
  EXPECT_FLOAT_EQ(logits[0][0].item<float>(), 4.5f);
  EXPECT_FLOAT_EQ(logits[0][1].item<float>(), 2.5f);
  EXPECT_EQ(Values(model->ToFlat()),
            (std::vector<float>{0, 1, 1, 0, 0.5f, -0.5f}));
}

TEST_F(TorchModelTest, ScriptedModelKeepsTheParametersOfItsFile) {
  testing_util::ScopedTempDir tmp;
  const std::string path = tmp.File("linear_seeded.pt");
  ASSERT_TRUE(SaveScriptedLinearClassifier(path, 4, 2, 9).ok());
  absl::StatusOr<FlatModel> a = CreateInitialModel(Scripted(path), 1);
  absl::StatusOr<FlatModel> b = CreateInitialModel(Scripted(path), 2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(Values(a->values), Values(b->values));
}

TEST_F(TorchModelTest, MissingTorchScriptFileIsNotFound) {
  EXPECT_EQ(TorchModel::Create(Scripted(::testing::TempDir() + "/absent.pt"), 1)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TorchModelTest, GarbageTorchScriptFileIsInvalidArgument) {
  testing_util::ScopedTempDir tmp;
  const std::string path = tmp.File("garbage.pt");
  std::ofstream(path) << "this is not a zip archive";
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(Scripted(path), 1);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find(path), std::string::npos);
}

TEST_F(TorchModelTest, TorchScriptWithoutParametersIsInvalidArgument) {
  testing_util::ScopedTempDir tmp;
  const std::string path = tmp.File("identity.pt");
  torch::jit::Module module("Identity");
  module.define("def forward(self, x):\n    return x\n");
  module.save(path);
  EXPECT_EQ(TorchModel::Create(Scripted(path), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TorchModelTest, TorchScriptWithFloat64ParametersIsInvalidArgument) {
  testing_util::ScopedTempDir tmp;
  const std::string path = tmp.File("float64.pt");
  torch::jit::Module module("Float64");
  module.register_parameter("weight", torch::ones({2, 2}, torch::kFloat64),
                            /*is_buffer=*/false);
  module.define("def forward(self, x):\n    return x @ self.weight\n");
  module.save(path);
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(Scripted(path), 1);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("float32"), std::string::npos);
}

TEST_F(TorchModelTest, ScriptedBuilderRefusesNonPositiveSizes) {
  EXPECT_EQ(
      SaveScriptedLinearClassifier(::testing::TempDir() + "/x.pt", 0, 2, 1)
          .code(),
      absl::StatusCode::kInvalidArgument);
}

// ---- Buffers (BatchNorm running statistics) --------------------------------

class TorchModelBufferTest : public TorchModelTest {
 protected:
  void SetUp() override {
    TorchModelTest::SetUp();
    std::string pattern =
        (std::filesystem::temp_directory_path() / "torch_model_test.XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A scripted Linear(4, 3) -> BatchNorm1d(3) -> ReLU -> Linear(3, 2).
  ModelSource ScriptedBn(BufferPolicy policy = BufferPolicy::kFederated) {
    const std::string path = dir_ + "/bn.pt";
    const absl::Status saved =
        SaveScriptedBatchNormClassifier(path, 4, 3, 2, 5);
    EXPECT_TRUE(saved.ok()) << saved;
    ModelSource source = Scripted(path);
    source.buffers = policy;
    return source;
  }

  std::string dir_;
};

ModelSource MlpBn(int32_t hidden, BufferPolicy policy) {
  ModelSource source = Zoo("mlp-bn", {4}, 2);
  source.hidden_units = hidden;
  source.buffers = policy;
  return source;
}

TensorSpec Buffer(const std::string& name, std::vector<int64_t> shape) {
  return {name, std::move(shape), DType::kFloat32, TensorKind::kBuffer};
}

// Runs one training-mode forward pass, which moves the running statistics.
void ForwardInTrainingMode(TorchModel& model) {
  torch::NoGradGuard no_grad;
  model.SetTraining(true);
  model.Forward(torch::arange(24, torch::kFloat32).reshape({6, 4}) * 0.5 + 3);
}

TEST_F(TorchModelBufferTest, MlpBnSpecListsRunningStatisticsAfterParameters) {
  auto model = CreateOrDie(MlpBn(3, BufferPolicy::kFederated));
  ASSERT_NE(model, nullptr);
  // num_batches_tracked (int64) is not federated.
  const std::vector<TensorSpec> expected = {{"fc1.weight", {3, 4}},
                                            {"fc1.bias", {3}},
                                            {"bn1.weight", {3}},
                                            {"bn1.bias", {3}},
                                            {"fc2.weight", {2, 3}},
                                            {"fc2.bias", {2}},
                                            Buffer("bn1.running_mean", {3}),
                                            Buffer("bn1.running_var", {3})};
  EXPECT_EQ(model->Spec().architecture, "mlp-bn");
  EXPECT_EQ(model->Spec().tensors, expected);
  EXPECT_EQ(model->Parameters().size(), 6u);
  // Initial statistics: mean 0, variance 1, at the end of the vector.
  const std::vector<float> flat = Values(model->ToFlat());
  ASSERT_EQ(flat.size(), 12u + 3 + 3 + 3 + 6 + 2 + 6);
  EXPECT_EQ(std::vector<float>(flat.end() - 6, flat.end()),
            (std::vector<float>{0, 0, 0, 1, 1, 1}));
}

TEST_F(TorchModelBufferTest, ScriptedBatchNormSpecListsBuffersAfterParameters) {
  auto model = CreateOrDie(ScriptedBn());
  ASSERT_NE(model, nullptr);
  const std::vector<TensorSpec> expected = {{"fc1.weight", {3, 4}},
                                            {"fc1.bias", {3}},
                                            {"bn1.weight", {3}},
                                            {"bn1.bias", {3}},
                                            {"fc2.weight", {2, 3}},
                                            {"fc2.bias", {2}},
                                            Buffer("bn1.running_mean", {3}),
                                            Buffer("bn1.running_var", {3})};
  EXPECT_EQ(model->Spec().tensors, expected);
  for (const torch::Tensor& p : model->Parameters()) {
    EXPECT_TRUE(p.requires_grad());
  }
}

TEST_F(TorchModelBufferTest, ToFlatLoadFlatRoundTripsBuffers) {
  for (const ModelSource& source :
       {MlpBn(3, BufferPolicy::kFederated), ScriptedBn()}) {
    auto model = CreateOrDie(source);
    ASSERT_NE(model, nullptr);
    std::vector<float> values(model->Spec().NumElements());
    for (size_t i = 0; i < values.size(); ++i) values[i] = 0.1f * (i + 1);
    ASSERT_TRUE(model->LoadFlat(FlatVector(values)).ok());
    EXPECT_EQ(Values(model->ToFlat()), values) << source.architecture;
    EXPECT_EQ(Values(model->BuffersToFlat()),
              std::vector<float>(values.end() - 6, values.end()));
  }
}

TEST_F(TorchModelBufferTest, LoadedBuffersDecideTheEvalModeOutput) {
  auto a = CreateOrDie(ScriptedBn());
  auto b = CreateOrDie(ScriptedBn());
  ASSERT_TRUE(a && b);
  // Move a's running statistics; loading its vector into b must carry them.
  ForwardInTrainingMode(*a);
  FlatVector values = a->ToFlat();
  ASSERT_TRUE(b->LoadFlat(values).ok());
  torch::NoGradGuard no_grad;
  a->SetTraining(false);
  b->SetTraining(false);
  const torch::Tensor x = torch::linspace(-2, 5, 8).reshape({2, 4});
  EXPECT_TRUE(torch::equal(a->Forward(x), b->Forward(x)));

  // Changing only the running means (the last 6 values are mean, variance)
  // changes what eval mode computes; -10 keeps every channel past the ReLU.
  for (size_t i = values.size() - 6; i < values.size() - 3; ++i)
    values[i] -= 10;
  ASSERT_TRUE(b->LoadFlat(values).ok());
  EXPECT_FALSE(torch::equal(a->Forward(x), b->Forward(x)));
}

TEST_F(TorchModelBufferTest, TrainingModeForwardUpdatesFederatedBuffers) {
  auto model = CreateOrDie(MlpBn(3, BufferPolicy::kFederated));
  ASSERT_NE(model, nullptr);
  const std::vector<float> before = Values(model->ToFlat());
  ForwardInTrainingMode(*model);
  const std::vector<float> after = Values(model->ToFlat());
  // Parameters unchanged, statistics moved.
  EXPECT_EQ(std::vector<float>(before.begin(), before.end() - 6),
            std::vector<float>(after.begin(), after.end() - 6));
  EXPECT_NE(std::vector<float>(before.end() - 6, before.end()),
            std::vector<float>(after.end() - 6, after.end()));
}

TEST_F(TorchModelBufferTest, LocalPolicyKeepsBuffersOutOfTheFlatVector) {
  for (const ModelSource& source :
       {MlpBn(3, BufferPolicy::kLocal), ScriptedBn(BufferPolicy::kLocal)}) {
    auto model = CreateOrDie(source);
    ASSERT_NE(model, nullptr);
    EXPECT_EQ(model->Spec().tensors.size(), 6u) << source.architecture;
    for (const TensorSpec& t : model->Spec().tensors) {
      EXPECT_EQ(t.kind, TensorKind::kParameter) << t.name;
    }
    EXPECT_EQ(model->ToFlat().size(), 12u + 3 + 3 + 3 + 6 + 2);

    // Loading a global vector leaves the site's statistics alone.
    ForwardInTrainingMode(*model);
    const std::vector<float> local = Values(model->BuffersToFlat());
    ASSERT_EQ(local.size(), 6u);
    EXPECT_NE(local, (std::vector<float>{0, 0, 0, 1, 1, 1}));
    ASSERT_TRUE(model->LoadFlat(FlatVector(model->Spec().NumElements())).ok());
    EXPECT_EQ(Values(model->BuffersToFlat()), local);
  }
}

TEST_F(TorchModelBufferTest,
       ModelsWithoutBuffersHaveTheSameSpecUnderBothPolicies) {
  for (const char* arch : {"logreg", "mlp", "lenet5"}) {
    ModelSource source = Zoo(arch, {1, 28, 28}, 10);
    auto federated = CreateOrDie(source);
    source.buffers = BufferPolicy::kLocal;
    auto local = CreateOrDie(source);
    ASSERT_TRUE(federated && local);
    EXPECT_EQ(federated->Spec().tensors, local->Spec().tensors) << arch;
    EXPECT_TRUE(federated->BuffersToFlat().empty());
  }
}

TEST_F(TorchModelBufferTest, MlpBnStartsLikeMlpWithTheSameSeed) {
  ModelSource mlp = MlpBn(3, BufferPolicy::kLocal);
  mlp.architecture = "mlp";
  auto plain = CreateOrDie(mlp, 7);
  auto bn = CreateOrDie(MlpBn(3, BufferPolicy::kLocal), 7);
  ASSERT_TRUE(plain && bn);
  const std::vector<float> a = Values(plain->ToFlat());
  const std::vector<float> b = Values(bn->ToFlat());
  // fc1 (15 values) then, after bn1's 6, fc2 (8 values).
  EXPECT_EQ(std::vector<float>(a.begin(), a.begin() + 15),
            std::vector<float>(b.begin(), b.begin() + 15));
  EXPECT_EQ(std::vector<float>(a.begin() + 15, a.end()),
            std::vector<float>(b.begin() + 21, b.end()));
}

TEST_F(TorchModelBufferTest, Float64BufferIsRefusedOnlyWhenFederated) {
  const std::string path = dir_ + "/float64_buffer.pt";
  torch::jit::Module module("Float64Buffer");
  module.register_parameter("weight", torch::ones({2, 2}), /*is_buffer=*/false);
  module.register_buffer("scale", torch::ones({2}, torch::kFloat64));
  module.register_buffer("steps", torch::zeros({}, torch::kInt64));
  module.define("def forward(self, x):\n    return x @ self.weight\n");
  module.save(path);
  ModelSource source = Scripted(path);
  absl::StatusOr<std::unique_ptr<TorchModel>> federated =
      TorchModel::Create(source, 1);
  EXPECT_EQ(federated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(federated.status().message().find("scale"), std::string::npos);
  EXPECT_NE(federated.status().message().find("local"), std::string::npos);

  source.buffers = BufferPolicy::kLocal;
  auto local = CreateOrDie(source);
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->Spec().tensors,
            (std::vector<TensorSpec>{{"weight", {2, 2}}}));
  EXPECT_EQ(Values(local->BuffersToFlat()), (std::vector<float>{1, 1}));
}

TEST_F(TorchModelBufferTest, IntegerBuffersAreNeverFederated) {
  const std::string path = dir_ + "/int_buffer.pt";
  torch::jit::Module module("IntBuffer");
  module.register_parameter("weight", torch::ones({2, 2}), /*is_buffer=*/false);
  module.register_buffer("steps", torch::zeros({3}, torch::kInt64));
  module.define("def forward(self, x):\n    return x @ self.weight\n");
  module.save(path);
  auto model = CreateOrDie(Scripted(path));
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->Spec().tensors,
            (std::vector<TensorSpec>{{"weight", {2, 2}}}));
  EXPECT_TRUE(model->BuffersToFlat().empty());
}

TEST(BufferPolicyTest, NamesRoundTripAndOthersAreInvalidArgument) {
  for (BufferPolicy policy : {BufferPolicy::kFederated, BufferPolicy::kLocal}) {
    absl::StatusOr<BufferPolicy> parsed =
        ParseBufferPolicy(BufferPolicyName(policy));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, policy);
  }
  EXPECT_EQ(ParseBufferPolicy("Local").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseBufferPolicy("").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedlearn
