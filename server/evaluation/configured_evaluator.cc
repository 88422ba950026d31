// Torch-free glue: which evaluator a configuration asks for.
#include "common/data/feature_standardizer.h"
#include "common/util/status_macros.h"
#include "server/evaluation/torch_evaluator.h"

namespace fedlearn {

absl::StatusOr<std::unique_ptr<ModelEvaluator>> CreateConfiguredEvaluator(
    const DataSourceConfig& test_data, const ModelSource& model,
    const TableSchema* schema) {
  if (test_data.kind.empty()) return std::unique_ptr<ModelEvaluator>();
  if (test_data.kind == "csv" && schema == nullptr) {
    return absl::InvalidArgumentError(
        "a CSV evaluation set needs the run's data schema ([data]) so that "
        "its classes and columns mean what they mean at the sites");
  }
  ASSIGN_OR_RETURN(Dataset test,
                   LoadDataSource(test_data, "test",
                                  test_data.kind == "csv" ? schema : nullptr));
  if (test_data.kind == "csv") {
    const FeatureStandardizer own =
        FeatureStandardizer::Fit(test, schema->NumericPositions());
    RETURN_IF_ERROR(own.Apply(&test));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<TorchEvaluator> evaluator,
                   TorchEvaluator::Create(model, std::move(test)));
  return std::unique_ptr<ModelEvaluator>(std::move(evaluator));
}

}  // namespace fedlearn
