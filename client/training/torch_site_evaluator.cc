#include "client/training/torch_site_evaluator.h"

#include <torch/nn/functional/loss.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/models/torch_model.h"
#include "common/util/status_macros.h"

namespace fedlearn {

TorchSiteEvaluator::TorchSiteEvaluator(std::unique_ptr<TorchModel> model,
                                       std::unique_ptr<LabeledTensors> data,
                                       std::vector<int32_t> groups,
                                       int32_t num_classes, int64_t batch_size)
    : model_(std::move(model)),
      data_(std::move(data)),
      groups_(std::move(groups)),
      num_classes_(num_classes),
      batch_size_(batch_size) {}

TorchSiteEvaluator::~TorchSiteEvaluator() = default;

absl::StatusOr<std::unique_ptr<TorchSiteEvaluator>> TorchSiteEvaluator::Create(
    const ModelSource& source, Dataset holdout, int64_t batch_size) {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size must be >= 1, got ", batch_size));
  }
  if (!holdout.groups.empty() && holdout.groups.size() != holdout.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the held-out data has ", holdout.groups.size(),
                     " group entries for ", holdout.size(), " examples"));
  }
  // The initial parameters are irrelevant: Evaluate() loads the global model.
  ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> model,
                   TorchModel::Create(source, /*seed=*/0));
  std::vector<int32_t> groups = std::move(holdout.groups);
  const int32_t num_classes = holdout.num_classes;
  ASSIGN_OR_RETURN(LabeledTensors data,
                   PrepareDataset(std::move(holdout), *model));
  return std::unique_ptr<TorchSiteEvaluator>(new TorchSiteEvaluator(
      std::move(model), std::make_unique<LabeledTensors>(std::move(data)),
      std::move(groups), num_classes, batch_size));
}

void TorchSiteEvaluator::UseLocalBuffers(std::function<FlatVector()> source) {
  local_buffers_ = std::move(source);
}

uint64_t TorchSiteEvaluator::NumExamples() const {
  return data_->labels.size(0);
}

absl::StatusOr<SiteEvalReport> TorchSiteEvaluator::Evaluate(
    const FlatVector& global, const EvalLayout& layout, uint64_t max_examples,
    const std::atomic<bool>& cancel) {
  if (layout.num_classes != num_classes_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the evaluation layout has ", layout.num_classes,
                     " classes but this site's model has ", num_classes_));
  }
  if (max_examples == 0) {
    return absl::InvalidArgumentError("the task's max_examples is 0");
  }
  RETURN_IF_ERROR(model_->LoadFlat(global));
  if (model_->buffer_policy() == BufferPolicy::kLocal && local_buffers_) {
    RETURN_IF_ERROR(model_->LoadBuffers(local_buffers_()));
  }
  const int64_t n = static_cast<int64_t>(
      std::min<uint64_t>(max_examples, data_->labels.size(0)));
  const bool with_groups = layout.num_groups > 0 && !groups_.empty();
  const bool binary = layout.num_classes == 2;
  SiteEvalBuilder builder(layout);
  try {
    torch::NoGradGuard no_grad;
    model_->SetTraining(false);
    for (int64_t begin = 0; begin < n; begin += batch_size_) {
      if (cancel.load(std::memory_order_relaxed)) {
        return absl::CancelledError("evaluation cancelled");
      }
      const int64_t end = std::min(begin + batch_size_, n);
      const torch::Tensor log_probs = torch::log_softmax(
          model_->Forward(data_->features.slice(0, begin, end)), 1);
      const torch::Tensor y = data_->labels.slice(0, begin, end);
      const torch::Tensor loss =
          -log_probs.gather(1, y.unsqueeze(1)).squeeze(1).to(torch::kDouble);
      const torch::Tensor predicted = log_probs.argmax(1);
      const torch::Tensor p1 =
          binary ? log_probs.select(1, 1).exp().to(torch::kDouble)
                 : torch::zeros({end - begin}, torch::kDouble);
      const auto loss_a = loss.accessor<double, 1>();
      const auto pred_a = predicted.accessor<int64_t, 1>();
      const auto p1_a = p1.accessor<double, 1>();
      const auto y_a = y.accessor<int64_t, 1>();
      for (int64_t k = 0; k < end - begin; ++k) {
        const int group = with_groups ? groups_[begin + k] : -1;
        RETURN_IF_ERROR(builder.Add(static_cast<int>(y_a[k]),
                                    static_cast<int>(pred_a[k]), p1_a[k],
                                    loss_a[k], group));
      }
    }
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("evaluation failed: ", DescribeTorchError(e)));
  }
  return builder.Finish();
}

}  // namespace fedlearn
