// Torch-free glue: which evaluator a configuration asks for.
#include "server/evaluation/torch_evaluator.h"

namespace fedlearn {

absl::StatusOr<std::unique_ptr<ModelEvaluator>> CreateConfiguredEvaluator(
    const DataSourceConfig& test_data, const ModelSource& model) {
  if (test_data.kind.empty()) return std::unique_ptr<ModelEvaluator>();
  absl::StatusOr<Dataset> test = LoadDataSource(test_data, "test");
  if (!test.ok()) return test.status();
  absl::StatusOr<std::unique_ptr<TorchEvaluator>> evaluator =
      TorchEvaluator::Create(model, *std::move(test));
  if (!evaluator.ok()) return evaluator.status();
  return std::unique_ptr<ModelEvaluator>(*std::move(evaluator));
}

}  // namespace fedlearn
