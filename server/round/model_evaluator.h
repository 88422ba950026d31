// Server-side evaluation of a global model, as seen by the round engine.
//
// Torch-free on purpose: the round engine depends on this interface only; the
// LibTorch implementation lives in server/evaluation/ and is linked into the
// coordinator binary when a test set is configured.
#ifndef FEDLEARN_SERVER_ROUND_MODEL_EVALUATOR_H_
#define FEDLEARN_SERVER_ROUND_MODEL_EVALUATOR_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/flat/flat_vector.h"

namespace fedlearn {

struct EvalMetrics {
  double accuracy = 0.0;  // in [0, 1]
  double loss = 0.0;      // mean cross-entropy
  uint64_t num_examples = 0;
};

class ModelEvaluator {
 public:
  virtual ~ModelEvaluator() = default;
  // Evaluates the model whose parameters are `parameters` (in the spec order
  // the evaluator was built with). InvalidArgument on a size mismatch.
  virtual absl::StatusOr<EvalMetrics> Evaluate(
      const FlatVector& parameters) = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_MODEL_EVALUATOR_H_
