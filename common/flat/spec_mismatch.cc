#include "common/flat/spec_mismatch.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fedlearn {
namespace {

// "1 tensor", "3 tensors"
std::string Count(size_t n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

// "4 tensors (1 buffer)"
std::string TensorCount(const ModelSpec& spec) {
  size_t buffers = 0;
  for (const TensorSpec& t : spec.tensors) {
    buffers += t.kind == TensorKind::kBuffer;
  }
  return absl::StrCat(Count(spec.tensors.size(), "tensor"), " (",
                      Count(buffers, "buffer"), ")");
}

// "parameter conv1.weight[6,1,5,5]"
std::string TensorText(const TensorSpec& t) {
  return absl::StrCat(t.kind == TensorKind::kBuffer ? "buffer" : "parameter",
                      " ", t.name, "[", absl::StrJoin(t.shape, ","), "]");
}

}  // namespace

std::string DescribeSpecMismatch(const ModelSpec& mine,
                                 absl::string_view mine_label,
                                 const ModelSpec& theirs,
                                 absl::string_view theirs_label) {
  if (mine.tensors.size() != theirs.tensors.size()) {
    // A differing buffer count usually means the two sides disagree on
    // whether buffers are federated.
    return absl::StrCat(mine_label, " ", TensorCount(mine), ", ", theirs_label,
                        " ", TensorCount(theirs));
  }
  for (size_t i = 0; i < mine.tensors.size(); ++i) {
    if (mine.tensors[i] != theirs.tensors[i]) {
      return absl::StrCat("tensor #", i, ": ", mine_label, " ",
                          TensorText(mine.tensors[i]), ", ", theirs_label, " ",
                          TensorText(theirs.tensors[i]));
    }
  }
  return "";
}

}  // namespace fedlearn
