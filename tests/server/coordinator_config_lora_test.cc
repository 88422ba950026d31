// [model] lora_rank / lora_alpha / lora_targets: read into the model source,
// and the combinations that cannot run refused before anything starts.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator_config.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<CoordinatorConfig> Parse(const std::string& model_keys) {
  return ParseCoordinatorConfig("[model]\n" + model_keys, "test.toml");
}

TEST(CoordinatorConfigLoraTest, KeysFillTheModelSourcesLoraConfig) {
  absl::StatusOr<CoordinatorConfig> c = Parse(
      "initial_weights = \"base.fmodel\"\nlora_rank = 4\n"
      "lora_alpha = 16.0\nlora_targets = [\"fc*\"]\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model.lora.rank, 4u);
  EXPECT_EQ(c->model.lora.alpha, 16.0);
  EXPECT_THAT(c->model.lora.targets, ElementsAre("fc*"));
  EXPECT_TRUE(ValidateCoordinatorConfig(*c).ok())
      << ValidateCoordinatorConfig(*c);
}

TEST(CoordinatorConfigLoraTest, OffByDefault) {
  absl::StatusOr<CoordinatorConfig> c = Parse("");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->model.lora.enabled());
}

TEST(CoordinatorConfigLoraTest, RefusesCombinationsThatCannotRun) {
  for (const char* keys :
       {"lora_rank = 4\n",  // no pre-trained base
        "lora_rank = 4\ninitial_weights = \"b.fmodel\"\nfrozen = [\"conv*\"]\n",
        "lora_rank = 4\narchitecture = \"torchscript\"\n"
        "torchscript = \"m.pt\"\ninitial_weights = \"torchscript\"\n"}) {
    absl::StatusOr<CoordinatorConfig> c = Parse(keys);
    ASSERT_TRUE(c.ok()) << c.status();
    const absl::Status s = ValidateCoordinatorConfig(*c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << keys;
    EXPECT_THAT(std::string(s.message()), HasSubstr("lora_rank")) << keys;
  }
  absl::StatusOr<CoordinatorConfig> alpha = Parse("lora_alpha = 0.0\n");
  ASSERT_TRUE(alpha.ok()) << alpha.status();
  EXPECT_THAT(std::string(ValidateCoordinatorConfig(*alpha).message()),
              HasSubstr("lora_alpha"));
  EXPECT_FALSE(Parse("lora_rank = -1\n").ok());
}

}  // namespace
}  // namespace fedlearn
