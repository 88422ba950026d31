// The TorchScript LoRA model that examples/finetune/make_lora_model.py
// writes (Debian's python3-torch, /usr/bin/python3) loads through the C++
// TorchScript path with the zoo's naming convention, and its forward equals
// its merged form: the zoo's lenet5 with the merged weights, and the
// script's own plain (adapter-free) module.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/models/lora_merge.h"
#include "common/models/torch_model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/process.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using testing_e2e::Process;
using testing_util::ScopedTempDir;
using namespace std::chrono_literals;

constexpr double kAlpha = 8.0;

class ScriptedLoraTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    at::set_num_threads(1);
    dir_ = new ScopedTempDir();
    // One script run for the suite (importing torch takes seconds).
    Process p({"/usr/bin/python3",
               std::string(FEDLEARN_SOURCE_DIR) +
                   "/examples/finetune/make_lora_model.py",
               "--out", dir_->File("lora.pt"), "--rank", "4", "--alpha", "8",
               "--targets", "fc*", "--seed", "3", "--plain-out",
               dir_->File("plain.pt"), "--check"},
              dir_->File("script"));
    const std::optional<int> code = p.Wait(120s);
    script_ok_ = code.has_value() && *code == 0;
    script_output_ = p.Stdout() + p.Stderr();
  }
  static void TearDownTestSuite() { delete dir_; }

  void SetUp() override { ASSERT_TRUE(script_ok_) << script_output_; }

  static ModelSource Scripted(const std::string& name) {
    ModelSource source;
    source.architecture = "torchscript";
    source.torchscript_path = dir_->File(name);
    return source;
  }

  static ScopedTempDir* dir_;
  static bool script_ok_;
  static std::string script_output_;
};

ScopedTempDir* ScriptedLoraTest::dir_ = nullptr;
bool ScriptedLoraTest::script_ok_ = false;
std::string ScriptedLoraTest::script_output_;

std::unique_ptr<TorchModel> CreateOrDie(const ModelSource& source) {
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(source, 1);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

std::vector<std::string> Names(const ModelSpec& spec) {
  std::vector<std::string> out;
  for (const TensorSpec& t : spec.tensors) out.push_back(t.name);
  return out;
}

float MaxAbsDiff(TorchModel& a, TorchModel& b) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const torch::Tensor x = torch::randn({32, 1, 28, 28}, gen);
  torch::NoGradGuard no_grad;
  a.SetTraining(false);
  b.SetTraining(false);
  return (a.Forward(x) - b.Forward(x)).abs().max().item<float>();
}

ModelSource ZooLeNet5() {
  ModelSource source;
  source.architecture = "lenet5";
  return source;
}

TEST_F(ScriptedLoraTest, LoadsWithTheZoosNamingConvention) {
  auto model = CreateOrDie(Scripted("lora.pt"));
  ASSERT_NE(model, nullptr);
  EXPECT_THAT(
      Names(model->Spec()),
      ElementsAre("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                  "fc1.weight", "fc1.bias", "fc1.lora_A", "fc1.lora_B",
                  "fc2.weight", "fc2.bias", "fc2.lora_A", "fc2.lora_B",
                  "fc3.weight", "fc3.bias", "fc3.lora_A", "fc3.lora_B"));
  EXPECT_EQ(model->Spec().NumElements(), 61706 + 3272);
}

TEST_F(ScriptedLoraTest, SelectingTheAdaptersLeavesOnlyThemInTheSpec) {
  ModelSource source = Scripted("lora.pt");
  source.trainable = {"*.lora_A", "*.lora_B"};
  auto model = CreateOrDie(source);
  ASSERT_NE(model, nullptr);
  EXPECT_THAT(Names(model->Spec()),
              ElementsAre("fc1.lora_A", "fc1.lora_B", "fc2.lora_A",
                          "fc2.lora_B", "fc3.lora_A", "fc3.lora_B"));
  EXPECT_EQ(model->Spec().NumElements(), 3272);
}

TEST_F(ScriptedLoraTest, StartsEqualToItsPlainForm) {
  auto lora = CreateOrDie(Scripted("lora.pt"));
  auto plain = CreateOrDie(Scripted("plain.pt"));
  ASSERT_NE(lora, nullptr);
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(MaxAbsDiff(*lora, *plain), 0.0f);
}

TEST_F(ScriptedLoraTest, ForwardEqualsTheMergedModelsForward) {
  auto lora = CreateOrDie(Scripted("lora.pt"));
  ASSERT_NE(lora, nullptr);
  // Random values everywhere, adapters included, so B A is far from zero.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const torch::Tensor values =
      torch::randn({lora->Spec().NumElements()}, gen) * 0.1;
  ASSERT_TRUE(lora->LoadFlat(FlatVector(std::vector<float>(
                                 values.data_ptr<float>(),
                                 values.data_ptr<float>() + values.numel())))
                  .ok());
  absl::StatusOr<LoraMergeResult> merged =
      MergeLoraAdapters(lora->ToFullModel(), kAlpha);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(merged->merged_layers, 3);
  // The merged form, twice: the script's own plain module and the zoo's.
  for (const ModelSource& source : {Scripted("plain.pt"), ZooLeNet5()}) {
    auto plain = CreateOrDie(source);
    ASSERT_NE(plain, nullptr);
    ASSERT_TRUE(merged->model.spec.CompatibleWith(plain->Spec()))
        << merged->model.spec.DescribeMismatch(plain->Spec());
    ASSERT_TRUE(plain->LoadFlat(merged->model.values).ok());
    EXPECT_LT(MaxAbsDiff(*lora, *plain), 1e-5f) << source.architecture;
  }
  // The adapters dropped instead of merged (alpha ~ 0) give another
  // function: the comparison above can fail.
  absl::StatusOr<LoraMergeResult> dropped =
      MergeLoraAdapters(lora->ToFullModel(), 1e-12);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  auto base_only = CreateOrDie(ZooLeNet5());
  ASSERT_TRUE(base_only->LoadFlat(dropped->model.values).ok());
  EXPECT_GT(MaxAbsDiff(*lora, *base_only), 1e-2f);
}

}  // namespace
}  // namespace fedlearn
