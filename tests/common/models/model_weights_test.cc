// Torch-free parts of pre-trained weights and freezing: the spec check's
// first mismatch, the parameter selection, the frozen-base digest.
#include "common/models/model_weights.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/models/parameter_selection.h"
#include "common/wire/model_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

NamedTensor F32(const std::string& name, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return {name, "F32", shape, std::vector<float>(n, 0.5f), true};
}

const std::vector<ExpectedTensor> kExpected = {
    {"fc1.weight", {4, 3}, true},
    {"fc1.bias", {4}, true},
    {"bn1.running_mean", {4}, false},
};

std::string MatchError(const std::vector<NamedTensor>& file) {
  absl::StatusOr<std::vector<int>> match =
      MatchWeights(file, kExpected, "base.safetensors", "mlp");
  EXPECT_FALSE(match.ok());
  EXPECT_EQ(match.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(match.status().message());
}

TEST(MatchWeightsTest, MatchesByNameInAnyFileOrderAndAllowsAbsentOptionals) {
  absl::StatusOr<std::vector<int>> match = MatchWeights(
      {F32("fc1.bias", {4}), F32("fc1.weight", {4, 3})}, kExpected, "f", "mlp");
  ASSERT_TRUE(match.ok()) << match.status();
  EXPECT_THAT(*match, ElementsAre(1, 0, -1));
}

TEST(MatchWeightsTest, NamesTheFirstMismatchOfEachKind) {
  EXPECT_THAT(MatchError({F32("fc1.bias", {4})}),
              HasSubstr("the weights in base.safetensors do not fit the mlp "
                        "model: missing tensor fc1.weight [4,3]"));
  EXPECT_THAT(MatchError({F32("fc1.weight", {3, 4}), F32("fc1.bias", {5})}),
              HasSubstr("tensor fc1.weight has shape [3,4], the model's is "
                        "[4,3]"));
  NamedTensor ints{"fc1.weight", "I64", {4, 3}, {}, false};
  EXPECT_THAT(MatchError({ints, F32("fc1.bias", {4})}),
              HasSubstr("tensor fc1.weight has dtype I64"));
  EXPECT_THAT(MatchError({F32("fc1.weight", {4, 3}), F32("fc1.bias", {4}),
                          F32("fc9.bias", {2}), F32("fc8.bias", {2})}),
              HasSubstr("extra tensor fc9.bias"));
  NamedTensor bad = F32("fc1.bias", {4});
  bad.values[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(MatchError({F32("fc1.weight", {4, 3}), bad}),
              HasSubstr("tensor fc1.bias: "));
  // An optional tensor that is present must fit too.
  EXPECT_THAT(MatchError({F32("fc1.weight", {4, 3}), F32("fc1.bias", {4}),
                          F32("bn1.running_mean", {3})}),
              HasSubstr("tensor bn1.running_mean has shape [3]"));
  // Spec order decides which of two faults is reported.
  EXPECT_THAT(MatchError({F32("fc1.weight", {1}), F32("x", {4})}),
              HasSubstr("tensor fc1.weight has shape [1]"));
}

TEST(ReadWeightsFileTest, ReadsThisSystemsModelFile) {
  testing_util::ScopedTempDir dir;
  FlatModel model;
  model.spec.architecture = "logreg";
  model.spec.tensors = {{"linear.weight", {2, 2}}, {"linear.bias", {2}}};
  model.values = FlatVector(std::vector<float>{1, 2, 3, 4, 5, 6});
  const std::string path = dir.path() + "/m.fmodel";
  ASSERT_TRUE(WriteModelFile(path, v1::RoundRef(), model).ok());
  absl::StatusOr<std::vector<NamedTensor>> read = ReadWeightsFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].name, "linear.weight");
  EXPECT_THAT((*read)[0].shape, ElementsAre(2, 2));
  EXPECT_THAT((*read)[0].values, ElementsAre(1, 2, 3, 4));
  EXPECT_THAT((*read)[1].values, ElementsAre(5, 6));
  EXPECT_EQ(ReadWeightsFile(dir.path() + "/absent").status().code(),
            absl::StatusCode::kNotFound);
}

const std::vector<std::string> kNames = {"conv1.weight", "conv1.bias",
                                         "fc3.weight", "fc3.bias"};

TEST(ParameterSelectionTest, GlobsSelectTrainableOrFrozenParameters) {
  absl::StatusOr<std::vector<bool>> last =
      SelectTrainable(kNames, {"fc3.*"}, {});
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_THAT(*last, ElementsAre(false, false, true, true));
  absl::StatusOr<std::vector<bool>> frozen =
      SelectTrainable(kNames, {}, {"conv?.*", "*.bias"});
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  EXPECT_THAT(*frozen, ElementsAre(false, false, true, false));
  absl::StatusOr<std::vector<bool>> all = SelectTrainable(kNames, {}, {});
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, ElementsAre(true, true, true, true));
}

TEST(ParameterSelectionTest, RefusesBothListsEmptyPatternsTyposAndNothingLeft) {
  EXPECT_THAT(
      SelectTrainable(kNames, {"fc3.*"}, {"conv1.*"}).status().message(),
      HasSubstr("not both"));
  EXPECT_THAT(SelectTrainable(kNames, {""}, {}).status().message(),
              HasSubstr("empty"));
  const absl::Status typo =
      SelectTrainable(kNames, {"fc3.*", "fc4.*"}, {}).status();
  EXPECT_EQ(typo.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(typo.message(), HasSubstr("trainable pattern \"fc4.*\" matches "
                                        "no parameter"));
  EXPECT_THAT(typo.message(), HasSubstr("conv1.weight"));
  EXPECT_THAT(SelectTrainable(kNames, {}, {"*"}).status().message(),
              HasSubstr("nothing would train"));
}

// Known answers from an independent computation:
//   import hashlib, struct, numpy as np
//   def digest(tensors):
//       b = b""
//       for name, shape, vals in tensors:
//           nb = name.encode()
//           b += struct.pack("<I", len(nb)) + nb + struct.pack("<I",
//           len(shape)) for d in shape: b += struct.pack("<q", d) b +=
//           np.asarray(vals, dtype="<f4").tobytes()
//       return hashlib.sha256(b).hexdigest()
//   digest([("fc1.weight", [2, 3], [0.5, -1, 2, 0, 1e-3, 3.25]),
//           ("fc1.bias", [2], [0.25, -0.125])])   # 561ffce5...
//   digest([("s", [], [2.0])])                     # 202970f9...
TEST(FrozenBaseSha256Test, MatchesAnIndependentComputation) {
  const std::vector<float> w = {0.5f, -1, 2, 0, 1e-3f, 3.25f};
  const std::vector<float> b = {0.25f, -0.125f};
  EXPECT_EQ(FrozenBaseSha256({{"fc1.weight", {2, 3}, w}, {"fc1.bias", {2}, b}}),
            "561ffce5540870233d08a4b96655d284352d6b68da5b634dccb6146779e6ec03");
  const std::vector<float> s = {2.0f};
  EXPECT_EQ(FrozenBaseSha256({{"s", {}, s}}),
            "202970f9b8051965a8c60ec92a5402f012e3d83d9c1d7d229c77fdd5b53893c1");
}

TEST(FrozenBaseSha256Test, AnyChangeOfNameShapeValueOrOrderChangesIt) {
  const std::vector<float> v = {1, 2, 3, 4};
  std::vector<float> changed = v;
  changed[3] = std::nextafter(4.0f, 5.0f);
  const std::string base = FrozenBaseSha256({{"a", {4}, v}, {"b", {4}, v}});
  EXPECT_NE(base, FrozenBaseSha256({{"a", {2, 2}, v}, {"b", {4}, v}}));
  EXPECT_NE(base, FrozenBaseSha256({{"c", {4}, v}, {"b", {4}, v}}));
  EXPECT_NE(base, FrozenBaseSha256({{"a", {4}, v}, {"b", {4}, changed}}));
  EXPECT_NE(base, FrozenBaseSha256({{"b", {4}, v}, {"a", {4}, v}}));
  EXPECT_EQ(base, FrozenBaseSha256({{"a", {4}, v}, {"b", {4}, v}}));
}

}  // namespace
}  // namespace fedlearn
