// Error-message text for two model specs that differ, saying which side is
// which. ModelSpec::DescribeMismatch prints "tensor count 4 vs 2": fine in a
// test's failure output, ambiguous in an operator's error, where one side is
// this program's model and the other the peer's (or a file's).
//
//   DescribeSpecMismatch(local, "this client prepared", task.spec,
//                        "the coordinator runs")
//   -> "tensor #0: this client prepared parameter w[8], the coordinator runs
//       parameter w[9]"
//
// Guarantees: empty iff the specs are compatible (ModelSpec::CompatibleWith);
// otherwise the first difference, each half led by its own label. The labels
// are the caller's own text (not escaped); tensor names come from the specs
// as they are. Thread-safety: a pure function.
#ifndef FEDLEARN_COMMON_FLAT_SPEC_MISMATCH_H_
#define FEDLEARN_COMMON_FLAT_SPEC_MISMATCH_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/flat/flat_vector.h"

namespace fedlearn {

std::string DescribeSpecMismatch(const ModelSpec& mine,
                                 absl::string_view mine_label,
                                 const ModelSpec& theirs,
                                 absl::string_view theirs_label);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_FLAT_SPEC_MISMATCH_H_
