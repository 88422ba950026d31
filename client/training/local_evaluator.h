// The contract between the client's protocol code and federated evaluation
// on the site's held-out split (common/data/holdout_split.h): measure a
// received global model and build this site's SiteEvalReport
// (common/evaluation/site_eval_report.h).
//
// The session only sees this interface; the LibTorch implementation is
// torch_site_evaluator.h. Guarantees of every implementation: the model is
// measured as received (eval mode; nothing it does changes the trainer or
// its data), on at most `max_examples` examples (the first ones of the
// split), and never trained on. Not thread-safe: one Evaluate() at a time.
#ifndef FEDLEARN_CLIENT_TRAINING_LOCAL_EVALUATOR_H_
#define FEDLEARN_CLIENT_TRAINING_LOCAL_EVALUATOR_H_

#include <atomic>
#include <cstdint>

#include "absl/status/statusor.h"
#include "common/evaluation/site_eval_report.h"
#include "common/flat/flat_vector.h"

namespace fedlearn {

class LocalEvaluator {
 public:
  virtual ~LocalEvaluator() = default;
  // Held-out examples available (before any max_examples cap).
  virtual uint64_t NumExamples() const = 0;
  // Loads `global` (the task's model, in the spec's flat order) and
  // evaluates it. InvalidArgument on a size mismatch or a layout that does
  // not fit the data (class count, groups), Cancelled if `cancel` becomes
  // true, Internal for a LibTorch failure.
  virtual absl::StatusOr<SiteEvalReport> Evaluate(
      const FlatVector& global, const EvalLayout& layout, uint64_t max_examples,
      const std::atomic<bool>& cancel) = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_LOCAL_EVALUATOR_H_
