// LoRA in the run contract (ModelDefinition.lora): it reaches the sites
// unchanged, is absent when off (so the contracts and digests of runs
// without adapters stay as they were), and a malformed one is refused.
#include "common/wire/run_contract.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;

ModelSource LoraLeNet5() {
  ModelSource source;
  source.architecture = "lenet5";
  source.lora.rank = 4;
  source.lora.alpha = 16.0;
  source.lora.targets = {"fc1", "fc2*"};
  return source;
}

TEST(RunContractLoraTest, AdaptersReachTheSiteUnchanged) {
  const v1::ModelDefinition definition =
      ToModelDefinition(LoraLeNet5(), ModelSpec{});
  ASSERT_TRUE(definition.has_lora());
  absl::StatusOr<ModelSource> site = ModelSourceFromDefinition(definition, "");
  ASSERT_TRUE(site.ok()) << site.status();
  EXPECT_EQ(site->lora.rank, 4u);
  EXPECT_EQ(site->lora.alpha, 16.0);
  EXPECT_THAT(site->lora.targets, ElementsAre("fc1", "fc2*"));
}

TEST(RunContractLoraTest, NoAdaptersLeaveTheContractAsBefore) {
  ModelSource plain = LoraLeNet5();
  plain.lora = LoraConfig();
  const v1::ModelDefinition definition = ToModelDefinition(plain, ModelSpec{});
  EXPECT_FALSE(definition.has_lora());
  v1::ModelDefinition without = definition;
  without.clear_lora();
  EXPECT_EQ(definition.SerializeAsString(), without.SerializeAsString());
  absl::StatusOr<ModelSource> site = ModelSourceFromDefinition(definition, "");
  ASSERT_TRUE(site.ok()) << site.status();
  EXPECT_FALSE(site->lora.enabled());
  // And adapters change the digest.
  v1::RunContract a, b;
  *a.mutable_model() = definition;
  *b.mutable_model() = ToModelDefinition(LoraLeNet5(), ModelSpec{});
  EXPECT_NE(ContractDigest(a), ContractDigest(b));
}

TEST(RunContractLoraTest, MalformedAdaptersAreRefused) {
  v1::ModelDefinition definition = ToModelDefinition(LoraLeNet5(), ModelSpec{});
  definition.mutable_lora()->set_rank(0);
  EXPECT_EQ(ModelSourceFromDefinition(definition, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  definition.mutable_lora()->set_rank(4);
  definition.mutable_lora()->set_alpha(-1.0);
  EXPECT_EQ(ModelSourceFromDefinition(definition, "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedlearn
