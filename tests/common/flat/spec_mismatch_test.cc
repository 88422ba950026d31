#include "common/flat/spec_mismatch.h"

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

ModelSpec LeNetHead() {
  return ModelSpec{
      "lenet5",
      {{"w", {6, 1, 5, 5}, DType::kFloat32}, {"b", {6}, DType::kFloat32}}};
}

TEST(SpecMismatchTest, CompatibleSpecsHaveNoText) {
  ModelSpec other = LeNetHead();
  other.architecture = "renamed";  // not compared
  EXPECT_EQ(DescribeSpecMismatch(LeNetHead(), "a", other, "b"), "");
}

TEST(SpecMismatchTest, DifferingTensorSaysWhichSideHasWhich) {
  ModelSpec theirs = LeNetHead();
  theirs.tensors[1].shape = {7};
  EXPECT_EQ(DescribeSpecMismatch(LeNetHead(), "this client prepared", theirs,
                                 "the coordinator runs"),
            "tensor #1: this client prepared parameter b[6], the coordinator "
            "runs parameter b[7]");
  // Swapping the sides swaps the halves, labels and all.
  EXPECT_EQ(DescribeSpecMismatch(theirs, "the file has", LeNetHead(),
                                 "the configured [model] has"),
            "tensor #1: the file has parameter b[7], the configured [model] "
            "has parameter b[6]");
}

TEST(SpecMismatchTest, DifferingCountNamesBothSidesAndTheirBuffers) {
  ModelSpec theirs = LeNetHead();
  theirs.tensors.push_back(
      {"running_mean", {6}, DType::kFloat32, TensorKind::kBuffer});
  EXPECT_EQ(DescribeSpecMismatch(LeNetHead(), "the configured [model] has",
                                 theirs, "the file has"),
            "the configured [model] has 2 tensors (0 buffers), the file has "
            "3 tensors (1 buffer)");
}

TEST(SpecMismatchTest, KindAloneIsADifferenceAndIsNamed) {
  ModelSpec theirs = LeNetHead();
  theirs.tensors[1].kind = TensorKind::kBuffer;
  EXPECT_EQ(DescribeSpecMismatch(LeNetHead(), "mine", theirs, "theirs"),
            "tensor #1: mine parameter b[6], theirs buffer b[6]");
}

}  // namespace
}  // namespace fedlearn
