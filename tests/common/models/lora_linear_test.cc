// Zoo LoRA (common/models/lora_linear.h) through TorchModel: the spec holds
// only the adapters, the adapted model starts equal to its base, and its
// forward equals the merged model's (common/models/lora_merge.h).
#include "common/models/lora_linear.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/models/lora_merge.h"
#include "common/models/torch_model.h"
#include "common/wire/model_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::ScopedTempDir;

constexpr double kAlpha = 8.0;

ModelSource Plain(const std::string& architecture = "lenet5") {
  ModelSource source;
  source.architecture = architecture;
  source.input_shape = architecture == "lenet5"
                           ? std::vector<int64_t>{1, 28, 28}
                           : std::vector<int64_t>{20};
  source.num_classes = 10;
  source.hidden_units = 16;
  return source;
}

std::unique_ptr<TorchModel> CreateOrDie(const ModelSource& source,
                                        uint64_t seed = 1) {
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(source, seed);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

class ZooLoraTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(1); }

  // The plain model of seed 1, saved as the base every LoRA model loads.
  std::string WriteBase(const std::string& architecture = "lenet5") {
    std::unique_ptr<TorchModel> plain = CreateOrDie(Plain(architecture));
    const std::string path = dir_.File(architecture + "-base.fmodel");
    EXPECT_TRUE(WriteModelFile(path, v1::RoundRef(),
                               FlatModel{plain->Spec(), plain->ToFlat()})
                    .ok());
    return path;
  }

  ModelSource Lora(const std::string& base, std::vector<std::string> targets,
                   const std::string& architecture = "lenet5") {
    ModelSource source = Plain(architecture);
    source.initial_weights = base;
    source.lora.rank = 4;
    source.lora.alpha = kAlpha;
    source.lora.targets = std::move(targets);
    return source;
  }

  ScopedTempDir dir_;
};

torch::Tensor RandomInputs(const std::vector<int64_t>& sample_shape) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(99);
  std::vector<int64_t> sizes = {32};
  sizes.insert(sizes.end(), sample_shape.begin(), sample_shape.end());
  return torch::randn(sizes, gen);
}

float MaxAbsDiff(TorchModel& a, TorchModel& b, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  a.SetTraining(false);
  b.SetTraining(false);
  return (a.Forward(x) - b.Forward(x)).abs().max().item<float>();
}

// Random adapters (A and B both), so that B A is far from zero.
void RandomizeAdapters(TorchModel& model) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
  torch::Tensor values = torch::randn({model.Spec().NumElements()}, gen) * 0.1;
  FlatVector flat(std::vector<float>(
      values.data_ptr<float>(), values.data_ptr<float>() + values.numel()));
  ASSERT_TRUE(model.LoadFlat(flat).ok());
}

std::vector<std::string> Names(const ModelSpec& spec) {
  std::vector<std::string> out;
  for (const TensorSpec& t : spec.tensors) out.push_back(t.name);
  return out;
}

TEST_F(ZooLoraTest, LeNet5SpecHoldsOnlyTheAdaptersOf3272Values) {
  auto model = CreateOrDie(Lora(WriteBase(), {"fc*"}));
  ASSERT_NE(model, nullptr);
  const std::vector<TensorSpec> expected = {
      {"fc1.lora_A", {4, 400}}, {"fc1.lora_B", {120, 4}},
      {"fc2.lora_A", {4, 120}}, {"fc2.lora_B", {84, 4}},
      {"fc3.lora_A", {4, 84}},  {"fc3.lora_B", {10, 4}}};
  EXPECT_EQ(model->Spec().tensors, expected);
  EXPECT_EQ(model->Spec().NumElements(), 3272);
  EXPECT_EQ(model->Parameters().size(), 6u);
  // The whole model: LeNet-5's 61706 values and the adapters.
  const FlatModel full = model->ToFullModel();
  EXPECT_EQ(full.spec.NumElements(), 61706 + 3272);
  EXPECT_THAT(
      Names(full.spec),
      ElementsAre("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                  "fc1.weight", "fc1.bias", "fc1.lora_A", "fc1.lora_B",
                  "fc2.weight", "fc2.bias", "fc2.lora_A", "fc2.lora_B",
                  "fc3.weight", "fc3.bias", "fc3.lora_A", "fc3.lora_B"));
}

TEST_F(ZooLoraTest, AdaptedModelStartsEqualToItsBase) {
  const std::string base = WriteBase();
  auto lora = CreateOrDie(Lora(base, {"fc*"}));
  auto plain = CreateOrDie(Plain());
  ASSERT_NE(lora, nullptr);
  // B = 0: the adapters add exactly nothing.
  EXPECT_EQ(MaxAbsDiff(*lora, *plain, RandomInputs({1, 28, 28})), 0.0f);
  const FlatVector adapters = lora->ToFlat();
  const ModelSpec& spec = lora->Spec();
  int64_t offset = 0;
  for (const TensorSpec& t : spec.tensors) {
    const float* v = adapters.data() + offset;
    float lo = v[0], hi = v[0];
    for (int64_t i = 0; i < t.NumElements(); ++i) {
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
    if (t.name.find("lora_B") != std::string::npos) {
      EXPECT_EQ(lo, 0.0f) << t.name;
      EXPECT_EQ(hi, 0.0f) << t.name;
    } else {
      // loralib: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)).
      const float bound = 1.0f / std::sqrt(static_cast<float>(t.shape[1]));
      EXPECT_GE(lo, -bound) << t.name;
      EXPECT_LE(hi, bound) << t.name;
      EXPECT_LT(lo, -bound / 2) << t.name;
      EXPECT_GT(hi, bound / 2) << t.name;
    }
    offset += t.NumElements();
  }
}

TEST_F(ZooLoraTest, ForwardEqualsTheMergedModelsForward) {
  auto lora = CreateOrDie(Lora(WriteBase(), {"fc*"}));
  ASSERT_NE(lora, nullptr);
  RandomizeAdapters(*lora);
  absl::StatusOr<LoraMergeResult> merged =
      MergeLoraAdapters(lora->ToFullModel(), kAlpha);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(merged->merged_layers, 3);
  auto plain = CreateOrDie(Plain(), /*seed=*/5);
  ASSERT_TRUE(merged->model.spec.CompatibleWith(plain->Spec()))
      << merged->model.spec.DescribeMismatch(plain->Spec());
  ASSERT_TRUE(plain->LoadFlat(merged->model.values).ok());
  const torch::Tensor x = RandomInputs({1, 28, 28});
  EXPECT_LT(MaxAbsDiff(*lora, *plain, x), 1e-5f);
  // The adapters did change the function: the test can tell.
  auto base = CreateOrDie(Plain());
  EXPECT_GT(MaxAbsDiff(*lora, *base, x), 1e-2f);
}

TEST_F(ZooLoraTest, EmptyTargetsAdaptEveryLinearLayerOfAnMlp) {
  auto lora = CreateOrDie(Lora(WriteBase("mlp"), {}, "mlp"));
  ASSERT_NE(lora, nullptr);
  EXPECT_THAT(Names(lora->Spec()), ElementsAre("fc1.lora_A", "fc1.lora_B",
                                               "fc2.lora_A", "fc2.lora_B"));
  RandomizeAdapters(*lora);
  absl::StatusOr<LoraMergeResult> merged =
      MergeLoraAdapters(lora->ToFullModel(), kAlpha);
  ASSERT_TRUE(merged.ok()) << merged.status();
  auto plain = CreateOrDie(Plain("mlp"), /*seed=*/5);
  ASSERT_TRUE(plain->LoadFlat(merged->model.values).ok());
  EXPECT_LT(MaxAbsDiff(*lora, *plain, RandomInputs({20})), 1e-5f);
}

TEST_F(ZooLoraTest, TrainableListAddsParametersToTheAdapters) {
  ModelSource source = Lora(WriteBase(), {"fc1", "fc2.weight"});
  source.trainable = {"fc3.*"};
  auto model = CreateOrDie(source);
  ASSERT_NE(model, nullptr);
  EXPECT_THAT(Names(model->Spec()),
              ElementsAre("fc1.lora_A", "fc1.lora_B", "fc2.lora_A",
                          "fc2.lora_B", "fc3.weight", "fc3.bias"));
}

TEST_F(ZooLoraTest, RefusesWhatCannotBeAdapted) {
  const std::string base = WriteBase();
  absl::Status none = TorchModel::Create(Lora(base, {"conv*"}), 1).status();
  EXPECT_EQ(none.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(none.message()), HasSubstr("fc1, fc2, fc3"));

  ModelSource too_wide = Lora(base, {"fc3"});
  too_wide.lora.rank = 11;  // fc3 is 84 -> 10
  EXPECT_EQ(TorchModel::Create(too_wide, 1).status().code(),
            absl::StatusCode::kInvalidArgument);

  ModelSource frozen = Lora(base, {"fc*"});
  frozen.frozen = {"conv*"};
  EXPECT_EQ(TorchModel::Create(frozen, 1).status().code(),
            absl::StatusCode::kInvalidArgument);

  ModelSource scripted = Lora(base, {"fc*"});
  scripted.architecture = "torchscript";
  scripted.torchscript_path = dir_.File("none.pt");
  EXPECT_EQ(TorchModel::Create(scripted, 1).status().code(),
            absl::StatusCode::kInvalidArgument);

  // A frozen base drawn from a seed is not one every site shares.
  EXPECT_EQ(TorchModel::Create(Lora("", {"fc*"}), 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ZooLoraTest, AdaptersAreDeterministicPerSeed) {
  const std::string base = WriteBase();
  auto a = CreateOrDie(Lora(base, {"fc*"}), 3);
  auto b = CreateOrDie(Lora(base, {"fc*"}), 3);
  auto c = CreateOrDie(Lora(base, {"fc*"}), 4);
  const FlatVector va = a->ToFlat(), vb = b->ToFlat(), vc = c->ToFlat();
  EXPECT_EQ(std::vector<float>(va.data(), va.data() + va.size()),
            std::vector<float>(vb.data(), vb.data() + vb.size()));
  EXPECT_NE(std::vector<float>(va.data(), va.data() + va.size()),
            std::vector<float>(vc.data(), vc.data() + vc.size()));
}

TEST(LoraLinearTest, AdaptersWrapTheBaseTensorsAndLeaveOtherLayers) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(1);
  torch::nn::Sequential net;
  net->push_back("fc1", torch::nn::Linear(6, 5));
  net->push_back("relu", torch::nn::ReLU());
  net->push_back("head", torch::nn::Linear(5, 3));
  const void* fc1_weight = net->named_parameters()["fc1.weight"].data_ptr();
  LoraConfig lora;
  lora.rank = 2;
  lora.targets = {"fc?"};
  absl::StatusOr<torch::nn::Sequential> adapted =
      AddLoraAdapters(net, lora, 1, "test");
  ASSERT_TRUE(adapted.ok()) << adapted.status();
  const auto params = (*adapted)->named_parameters();
  std::vector<std::string> names;
  for (const auto& p : params) names.push_back(p.key());
  EXPECT_THAT(names, ElementsAre("fc1.weight", "fc1.bias", "fc1.lora_A",
                                 "fc1.lora_B", "head.weight", "head.bias"));
  EXPECT_EQ(params["fc1.weight"].data_ptr(), fc1_weight);
  EXPECT_EQ((*adapted)->forward(torch::ones({2, 6})).sizes(),
            (std::vector<int64_t>{2, 3}));
}

TEST(LoraLinearTest, TargetsMatchModuleOrWeightNames) {
  LoraConfig lora;
  lora.rank = 1;
  EXPECT_TRUE(IsLoraTarget(lora, "anything"));
  lora.targets = {"fc*"};
  EXPECT_TRUE(IsLoraTarget(lora, "fc3"));
  EXPECT_FALSE(IsLoraTarget(lora, "linear"));
  lora.targets = {"*.weight"};
  EXPECT_TRUE(IsLoraTarget(lora, "linear"));
  lora.targets = {"fc[12]"};
  EXPECT_TRUE(IsLoraTarget(lora, "fc2"));
  EXPECT_FALSE(IsLoraTarget(lora, "fc3"));
}

}  // namespace
}  // namespace fedlearn
