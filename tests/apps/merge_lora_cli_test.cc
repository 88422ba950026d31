// fedlearn-merge-lora as an operator runs it (the real binary): a LoRA run's
// adapter-only model file plus its base give a model file of the plain
// architecture whose forward equals the adapted model's; alpha from a flag
// or from the site's saved contract; clear refusals otherwise.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/models/torch_model.h"
#include "common/util/atomic_file.h"
#include "common/wire/model_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/process.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::HasSubstr;
using testing_e2e::Process;
using testing_util::ScopedTempDir;
using namespace std::chrono_literals;

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

ModelSource LeNet5() {
  ModelSource source;
  source.architecture = "lenet5";
  return source;
}

std::unique_ptr<TorchModel> CreateOrDie(const ModelSource& source) {
  absl::StatusOr<std::unique_ptr<TorchModel>> model =
      TorchModel::Create(source, 1);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

class MergeLoraCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    at::set_num_threads(1);
    std::unique_ptr<TorchModel> base = CreateOrDie(LeNet5());
    ASSERT_NE(base, nullptr);
    ASSERT_TRUE(WriteModelFile(dir_.File("base.fmodel"), v1::RoundRef(),
                               FlatModel{base->Spec(), base->ToFlat()})
                    .ok());
    ModelSource lora = LeNet5();
    lora.initial_weights = dir_.File("base.fmodel");
    lora.lora.rank = 4;
    lora.lora.alpha = 8.0;
    lora.lora.targets = {"fc*"};
    lora_ = CreateOrDie(lora);
    ASSERT_NE(lora_, nullptr);
    // A fine-tuned round: random adapters (B nonzero).
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
    const torch::Tensor v =
        torch::randn({lora_->Spec().NumElements()}, gen) * 0.1;
    ASSERT_TRUE(lora_
                    ->LoadFlat(FlatVector(std::vector<float>(
                        v.data_ptr<float>(), v.data_ptr<float>() + v.numel())))
                    .ok());
    v1::RoundRef ref;
    ref.set_run_id("finetune");
    ref.set_round(7);
    // What the coordinator saves for a LoRA run: only the adapters.
    ASSERT_TRUE(WriteModelFile(dir_.File("adapters.fmodel"), ref,
                               FlatModel{lora_->Spec(), lora_->ToFlat()})
                    .ok());
  }

  CliResult Run(std::vector<std::string> args) {
    args.insert(args.begin(),
                std::string(FEDLEARN_BINARY_DIR) + "/bin/fedlearn-merge-lora");
    Process p(std::move(args), dir_.File("run" + std::to_string(runs_++)));
    CliResult r;
    r.exit_code = p.Wait(60s).value_or(-1000);
    r.out = p.Stdout();
    r.err = p.Stderr();
    return r;
  }

  // Max |lora(x) - merged(x)| over random inputs.
  float ForwardDiff(const std::string& merged_path) {
    absl::StatusOr<SavedModel> merged = ReadModelFile(merged_path);
    EXPECT_TRUE(merged.ok()) << merged.status();
    if (!merged.ok()) return 1e9f;
    std::unique_ptr<TorchModel> plain = CreateOrDie(LeNet5());
    EXPECT_TRUE(merged->model.spec.CompatibleWith(plain->Spec()))
        << merged->model.spec.DescribeMismatch(plain->Spec());
    EXPECT_EQ(merged->ref.run_id(), "finetune");
    EXPECT_EQ(merged->ref.round(), 7u);
    EXPECT_TRUE(plain->LoadFlat(merged->model.values).ok());
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(9);
    const torch::Tensor x = torch::randn({32, 1, 28, 28}, gen);
    torch::NoGradGuard no_grad;
    lora_->SetTraining(false);
    plain->SetTraining(false);
    return (lora_->Forward(x) - plain->Forward(x)).abs().max().item<float>();
  }

  ScopedTempDir dir_;
  std::unique_ptr<TorchModel> lora_;
  int runs_ = 0;
};

TEST_F(MergeLoraCliTest, MergedModelComputesWhatTheAdaptedModelComputes) {
  CliResult r = Run({"--model", dir_.File("adapters.fmodel"), "--base",
                     dir_.File("base.fmodel"), "--alpha", "8", "--out",
                     dir_.File("merged.fmodel")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("merged 3 adapted layer(s)"));
  EXPECT_THAT(r.out, HasSubstr("dropped 3272 adapter values"));
  EXPECT_LT(ForwardDiff(dir_.File("merged.fmodel")), 1e-5f);
}

TEST_F(MergeLoraCliTest, AlphaFromTheSitesContractGivesTheSameModel) {
  v1::RunContract contract;
  contract.mutable_model()->mutable_lora()->set_rank(4);
  contract.mutable_model()->mutable_lora()->set_alpha(8.0);
  ASSERT_TRUE(WriteFileAtomically(dir_.File("contract.pb"),
                                  contract.SerializeAsString())
                  .ok());
  CliResult r = Run({"--model", dir_.File("adapters.fmodel"), "--base",
                     dir_.File("base.fmodel"), "--contract",
                     dir_.File("contract.pb"), "--out", dir_.File("m.fmodel")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(ForwardDiff(dir_.File("m.fmodel")), 1e-5f);
  // Another alpha is another model: the check above can fail.
  r = Run({"--model", dir_.File("adapters.fmodel"), "--base",
           dir_.File("base.fmodel"), "--alpha", "2", "--out",
           dir_.File("wrong.fmodel")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(ForwardDiff(dir_.File("wrong.fmodel")), 1e-2f);
}

TEST_F(MergeLoraCliTest, RefusesFilesThatDoNotMerge) {
  // Adapters only, no base: the weights are missing.
  CliResult r = Run({"--model", dir_.File("adapters.fmodel"), "--alpha", "8",
                     "--out", dir_.File("x.fmodel")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--base"));
  // A model without adapters.
  r = Run({"--model", dir_.File("base.fmodel"), "--alpha", "8", "--out",
           dir_.File("x.fmodel")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no LoRA adapters"));
  // A contract without LoRA.
  ASSERT_TRUE(WriteFileAtomically(dir_.File("plain.pb"),
                                  v1::RunContract().SerializeAsString())
                  .ok());
  r = Run({"--model", dir_.File("adapters.fmodel"), "--base",
           dir_.File("base.fmodel"), "--contract", dir_.File("plain.pb"),
           "--out", dir_.File("x.fmodel")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("declares no LoRA adapters"));
  EXPECT_FALSE(ReadModelFile(dir_.File("x.fmodel")).ok());
}

TEST_F(MergeLoraCliTest, UsageErrorsExitTwoAndVersionExitsZero) {
  EXPECT_EQ(Run({"--model", dir_.File("adapters.fmodel"), "--out",
                 dir_.File("x.fmodel")})
                .exit_code,
            2);  // neither --alpha nor --contract
  EXPECT_EQ(
      Run({"--model", "a", "--out", "b", "--alpha", "1", "--contract", "c"})
          .exit_code,
      2);
  CliResult v = Run({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_THAT(v.out, HasSubstr("merge-lora"));
}

}  // namespace
}  // namespace fedlearn
