#include "common/util/status_macros.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

absl::Status Fails() { return absl::NotFoundError("missing thing"); }
absl::StatusOr<std::unique_ptr<int>> Gives(int v) {
  return std::make_unique<int>(v);
}
absl::StatusOr<std::unique_ptr<int>> GivesError() {
  return absl::DataLossError("torn");
}

int reached = 0;

absl::Status PropagatesStatus() {
  RETURN_IF_ERROR(absl::OkStatus());
  ++reached;
  RETURN_IF_ERROR(Fails());
  ++reached;
  return absl::OkStatus();
}

absl::StatusOr<int> AssignsMoveOnlyValues(bool fail) {
  ASSIGN_OR_RETURN(std::unique_ptr<int> a, Gives(40));
  std::unique_ptr<int> b;
  ASSIGN_OR_RETURN(b, fail ? GivesError() : Gives(2));
  return *a + *b;
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFirstErrorUnchanged) {
  reached = 0;
  absl::Status s = PropagatesStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "missing thing");
  EXPECT_EQ(reached, 1);
}

TEST(StatusMacrosTest, AssignOrReturnMovesTheValueOrReturnsTheError) {
  absl::StatusOr<int> ok = AssignsMoveOnlyValues(false);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 42);
  absl::StatusOr<int> bad = AssignsMoveOnlyValues(true);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(bad.status().message(), "torn");
}

}  // namespace
}  // namespace fedlearn
