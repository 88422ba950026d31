#include "common/models/lora_merge.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

FlatModel Model(std::vector<TensorSpec> tensors, std::vector<float> values) {
  return FlatModel{ModelSpec{"test", std::move(tensors)},
                   FlatVector(std::move(values))};
}

std::vector<std::string> Names(const ModelSpec& spec) {
  std::vector<std::string> out;
  for (const TensorSpec& t : spec.tensors) out.push_back(t.name);
  return out;
}

std::vector<float> Values(const FlatVector& v) {
  return std::vector<float>(v.data(), v.data() + v.size());
}

// W [2,3], A [2,3] (rank 2), B [2,2]; alpha 3, so scaling 1.5.
FlatModel Adapted() {
  return Model({{"conv.weight", {1}},
                {"fc.weight", {2, 3}},
                {"fc.bias", {2}},
                {"fc.lora_A", {2, 3}},
                {"fc.lora_B", {2, 2}}},
               {/*conv*/ 7.0f,
                /*W*/ 0.5f, -1.0f, 2.0f, 0.25f, 0.0f, -0.75f,
                /*b*/ 0.125f, -0.5f,
                /*A*/ 1.0f, 2.0f, -1.0f, 0.5f, -0.5f, 0.25f,
                /*B*/ 0.1f, -0.2f, 0.3f, 0.4f});
}

// Known answer from numpy (float64 product, rounded to float32):
//   W = np.array([[0.5,-1,2],[0.25,0,-0.75]], np.float32)
//   A = np.array([[1,2,-1],[0.5,-0.5,0.25]], np.float32)
//   B = np.array([[0.1,-0.2],[0.3,0.4]], np.float32)
//   (W.astype(np.float64) + 1.5 * (B.astype(np.float64) @
//   A)).astype(np.float32)
//   -> [[0.5, -0.55, 1.775], [1.0, 0.6, -1.05]]
TEST(LoraMergeTest, MergedWeightIsWPlusScaledBTimesAKnownAnswer) {
  absl::StatusOr<LoraMergeResult> merged = MergeLoraAdapters(Adapted(), 3.0);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_THAT(Names(merged->model.spec),
              ElementsAre("conv.weight", "fc.weight", "fc.bias"));
  EXPECT_THAT(
      Values(merged->model.values),
      ElementsAre(7.0f, 0.5f, -0.550000011920929f, 1.774999976158142f, 1.0f,
                  0.6000000238418579f, -1.0500000715255737f, 0.125f, -0.5f));
  EXPECT_EQ(merged->merged_layers, 1);
  EXPECT_EQ(merged->dropped_values, 10);
  EXPECT_EQ(merged->model.spec.architecture, "test");
}

TEST(LoraMergeTest, ZeroBLeavesTheBaseBitForBit) {
  FlatModel model = Adapted();
  for (size_t i = 15; i < 19; ++i) model.values[i] = 0.0f;
  absl::StatusOr<LoraMergeResult> merged = MergeLoraAdapters(model, 3.0);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_THAT(
      Values(merged->model.values),
      ElementsAre(7.0f, 0.5f, -1.0f, 2.0f, 0.25f, 0.0f, -0.75f, 0.125f, -0.5f));
}

TEST(LoraMergeTest, ScalingIsAlphaOverTheRankOfA) {
  // Rank 1: A [1,2], B [1,1] = 2, alpha 0.5 -> scaling 0.5; W += 0.5*2*A.
  FlatModel model =
      Model({{"l.weight", {1, 2}}, {"l.lora_A", {1, 2}}, {"l.lora_B", {1, 1}}},
            {1.0f, 1.0f, 3.0f, -4.0f, 2.0f});
  absl::StatusOr<LoraMergeResult> merged = MergeLoraAdapters(model, 0.5);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_THAT(Values(merged->model.values), ElementsAre(4.0f, -3.0f));
}

TEST(LoraMergeTest, RefusesAModelWithoutAdapters) {
  FlatModel model = Model({{"fc.weight", {1, 1}}}, {1.0f});
  EXPECT_EQ(MergeLoraAdapters(model, 1.0).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(LoraMergeTest, RefusesAnAdapterWithoutItsWeightOrPartner) {
  FlatModel no_weight =
      Model({{"fc.lora_A", {1, 2}}, {"fc.lora_B", {1, 1}}}, {1.0f, 2.0f, 3.0f});
  absl::Status s = MergeLoraAdapters(no_weight, 1.0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("fc.weight"));
  FlatModel no_b =
      Model({{"fc.weight", {1, 2}}, {"fc.lora_A", {1, 2}}}, {1, 2, 3, 4});
  EXPECT_EQ(MergeLoraAdapters(no_b, 1.0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoraMergeTest, RefusesShapesThatDoNotFitAndBadAlpha) {
  FlatModel model =
      Model({{"l.weight", {1, 2}}, {"l.lora_A", {1, 3}}, {"l.lora_B", {1, 1}}},
            {1, 2, 3, 4, 5, 6});
  absl::Status s = MergeLoraAdapters(model, 1.0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("do not fit"));
  EXPECT_EQ(MergeLoraAdapters(Adapted(), 0.0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MergeLoraAdapters(Adapted(), -1.0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoraMergeTest, OverlayTakesBaseOrderAndTheAdaptedFilesTensors) {
  FlatModel base = Model({{"a.weight", {2}}, {"fc.weight", {1, 2}}},
                         {1.0f, 2.0f, 3.0f, 4.0f});
  // A run that trained a.weight and the adapters of fc.
  FlatModel adapted =
      Model({{"a.weight", {2}}, {"fc.lora_A", {1, 2}}, {"fc.lora_B", {1, 1}}},
            {-1.0f, -2.0f, 5.0f, 6.0f, 7.0f});
  absl::StatusOr<FlatModel> combined = OverlayOnBase(base, adapted);
  ASSERT_TRUE(combined.ok()) << combined.status();
  EXPECT_THAT(Names(combined->spec),
              ElementsAre("a.weight", "fc.weight", "fc.lora_A", "fc.lora_B"));
  EXPECT_THAT(Values(combined->values),
              ElementsAre(-1.0f, -2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f));
}

TEST(LoraMergeTest, OverlayRefusesTensorsOfAnotherModel) {
  FlatModel base = Model({{"fc.weight", {1, 2}}}, {1.0f, 2.0f});
  FlatModel other = Model({{"head.weight", {1}}}, {1.0f});
  EXPECT_EQ(OverlayOnBase(base, other).status().code(),
            absl::StatusCode::kInvalidArgument);
  FlatModel reshaped = Model({{"fc.weight", {2, 1}}}, {1.0f, 2.0f});
  EXPECT_EQ(OverlayOnBase(base, reshaped).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoraMergeTest, AdapterNamesAndTrainablePatterns) {
  EXPECT_TRUE(IsLoraAdapterName("fc1.lora_A"));
  EXPECT_TRUE(IsLoraAdapterName("block.0.fc.lora_B"));
  EXPECT_FALSE(IsLoraAdapterName("fc1.weight"));
  EXPECT_FALSE(IsLoraAdapterName("fc1.lora_C"));
  absl::StatusOr<std::vector<std::string>> patterns =
      LoraTrainablePatterns({"fc3.bias"}, {});
  ASSERT_TRUE(patterns.ok()) << patterns.status();
  EXPECT_THAT(*patterns, ElementsAre("*.lora_A", "*.lora_B", "fc3.bias"));
  EXPECT_EQ(LoraTrainablePatterns({}, {"conv*"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedlearn
