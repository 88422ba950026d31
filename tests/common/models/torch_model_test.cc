#include "common/models/torch_model.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/models/model_factory.h"
#include "common/models/scripted_model_builder.h"
#include "gtest/gtest.h"

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
  const std::string path = ::testing::TempDir() + "/linear_8x3.pt";
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
  const std::string path = ::testing::TempDir() + "/linear_2x2.pt";
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
  const std::string path = ::testing::TempDir() + "/linear_seeded.pt";
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
  const std::string path = ::testing::TempDir() + "/garbage.pt";
  std::ofstream(path) << "this is not a zip archive";
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(Scripted(path), 1);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find(path), std::string::npos);
}

TEST_F(TorchModelTest, TorchScriptWithoutParametersIsInvalidArgument) {
  const std::string path = ::testing::TempDir() + "/identity.pt";
  torch::jit::Module module("Identity");
  module.define("def forward(self, x):\n    return x\n");
  module.save(path);
  EXPECT_EQ(TorchModel::Create(Scripted(path), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TorchModelTest, TorchScriptWithFloat64ParametersIsInvalidArgument) {
  const std::string path = ::testing::TempDir() + "/float64.pt";
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

}  // namespace
}  // namespace fedlearn
