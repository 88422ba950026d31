#include "server/evaluation/torch_evaluator.h"

#include <torch/nn/functional/loss.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/models/torch_model.h"
#include "common/util/status_macros.h"

namespace fedlearn {

TorchEvaluator::TorchEvaluator(std::unique_ptr<TorchModel> model,
                               std::unique_ptr<LabeledTensors> data,
                               int64_t batch_size)
    : model_(std::move(model)),
      data_(std::move(data)),
      batch_size_(batch_size) {}

TorchEvaluator::~TorchEvaluator() = default;

absl::StatusOr<std::unique_ptr<TorchEvaluator>> TorchEvaluator::Create(
    const ModelSource& source, Dataset test_data, int64_t batch_size) {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size must be >= 1, got ", batch_size));
  }
  // The initial parameters are irrelevant: Evaluate() loads its own.
  ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> model,
                   TorchModel::Create(source, /*seed=*/0));
  ASSIGN_OR_RETURN(LabeledTensors data,
                   PrepareDataset(std::move(test_data), *model));
  return std::unique_ptr<TorchEvaluator>(new TorchEvaluator(
      std::move(model), std::make_unique<LabeledTensors>(std::move(data)),
      batch_size));
}

const ModelSpec& TorchEvaluator::Spec() const { return model_->Spec(); }

absl::StatusOr<EvalMetrics> TorchEvaluator::Evaluate(
    const FlatVector& parameters) {
  RETURN_IF_ERROR(model_->LoadFlat(parameters));
  try {
    torch::NoGradGuard no_grad;
    model_->SetTraining(false);
    namespace F = torch::nn::functional;
    const auto summed = F::CrossEntropyFuncOptions().reduction(torch::kSum);
    const int64_t n = data_->labels.size(0);
    double loss_sum = 0.0;
    int64_t correct = 0;
    for (int64_t begin = 0; begin < n; begin += batch_size_) {
      const int64_t end = std::min(begin + batch_size_, n);
      const torch::Tensor logits =
          model_->Forward(data_->features.slice(0, begin, end));
      const torch::Tensor y = data_->labels.slice(0, begin, end);
      loss_sum += F::cross_entropy(logits, y, summed).item<double>();
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
    }
    EvalMetrics metrics;
    metrics.accuracy = static_cast<double>(correct) / n;
    metrics.loss = loss_sum / n;
    metrics.num_examples = n;
    return metrics;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("evaluation failed: ", DescribeTorchError(e)));
  }
}

}  // namespace fedlearn
