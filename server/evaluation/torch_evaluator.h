// ModelEvaluator on LibTorch: accuracy and mean cross-entropy of a flat
// model vector on a held-out dataset.
//
// The test set is converted to tensors once, at Create(), which also checks
// (one forward pass) that the model accepts it. Evaluate() loads the
// parameters and, under BufferPolicy::kFederated, the buffers (BatchNorm
// running statistics) from the vector, and runs in eval mode without
// autograd, in batches of `batch_size` to bound memory (each batch's loss is
// one float sum, so batch size changes the loss in its last digits only).
// The batches are spread over `threads` threads (0: as many as the cores
// LibTorch's intra-op pool leaves idle, e.g. every core in the simulation,
// whose pool has one thread; always one for TorchScript); each batch's
// result does not depend on the thread that ran it and they are summed in
// batch order, so the metrics do not depend on the number of threads.
// Under kLocal the vector has no buffers and BatchNorm uses the model's
// initial ones (torch_model.h), so the metrics are not those of any site's
// model.
// Not thread-safe: one Evaluate() at a time per instance (it starts and
// joins its own threads).
//
// Torch-free header: the LibTorch types stay in torch_evaluator.cc.
#ifndef FEDLEARN_SERVER_EVALUATION_TORCH_EVALUATOR_H_
#define FEDLEARN_SERVER_EVALUATION_TORCH_EVALUATOR_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "common/data/data_source.h"
#include "common/data/dataset.h"
#include "common/data/table_schema.h"
#include "common/flat/flat_vector.h"
#include "common/models/model_source.h"
#include "server/round/model_evaluator.h"

namespace fedlearn {

class TorchModel;
struct LabeledTensors;

class TorchEvaluator : public ModelEvaluator {
 public:
  // InvalidArgument if batch_size < 1, the model cannot be built, or the
  // dataset is empty, inconsistent or not accepted by the model. `threads`
  // <= 0 picks the number of threads as above.
  static absl::StatusOr<std::unique_ptr<TorchEvaluator>> Create(
      const ModelSource& source, Dataset test_data, int64_t batch_size = 1000,
      int threads = 0);
  ~TorchEvaluator() override;

  const ModelSpec& Spec() const;
  absl::StatusOr<EvalMetrics> Evaluate(const FlatVector& parameters) override;

 private:
  TorchEvaluator(std::unique_ptr<TorchModel> model,
                 std::unique_ptr<LabeledTensors> data, int64_t batch_size,
                 int threads);

  std::unique_ptr<TorchModel> model_;
  std::unique_ptr<LabeledTensors> data_;
  int64_t batch_size_;
  int threads_;
};

// The evaluator a coordinator configuration asks for: the `test` split of
// `test_data` evaluated with `model`, or nullptr when test_data.kind is
// empty (no server-side evaluation). A CSV test set is loaded against the
// run's `schema` (required for CSV: classes and columns must mean what they
// mean at the sites) and standardised with its own statistics, as a site
// standardises its own rows.
absl::StatusOr<std::unique_ptr<ModelEvaluator>> CreateConfiguredEvaluator(
    const DataSourceConfig& test_data, const ModelSource& model,
    const TableSchema* schema = nullptr);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_EVALUATION_TORCH_EVALUATOR_H_
