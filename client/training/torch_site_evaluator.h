// LocalEvaluator on LibTorch: measures a received global model on this
// site's held-out split (common/data/holdout_split.h) and builds its
// SiteEvalReport with SiteEvalBuilder (common/evaluation/site_eval_report.h).
//
// Guarantees: the held-out data is converted to tensors once, at Create(),
// which runs one forward pass so an incompatible model or sample shape is
// refused there. Evaluate() loads the global vector into the evaluator's own
// model (never the trainer's), switches it to eval mode (BatchNorm uses its
// running statistics, dropout is off) and, without gradients, in batches of
// `batch_size`, feeds each of the first min(NumExamples(), max_examples)
// examples to the builder: its label, the argmax prediction, P(class 1) =
// softmax(logits)[1] (binary tasks), its cross-entropy -log softmax(logits)
// [label] and its group (Dataset::groups; -1 without groups or when the
// layout declares none). Deterministic for a given model and thread count.
// Buffers under BufferPolicy::kLocal are not in the global vector: with
// UseLocalBuffers() the evaluator loads the site's own running statistics
// (the trainer's) before each evaluation, so it measures the site's model
// as FedBN defines it (global parameters, local statistics); without, the
// module's initial buffers (as the coordinator's evaluator does).
// Refuses (InvalidArgument): a layout whose class count differs from the
// model's, max_examples == 0, a size mismatch; Cancelled between batches;
// LibTorch exceptions become Internal.
// Not thread-safe: one Evaluate() at a time per instance.
//
// Torch-free header: the LibTorch types stay in torch_site_evaluator.cc.
#ifndef FEDLEARN_CLIENT_TRAINING_TORCH_SITE_EVALUATOR_H_
#define FEDLEARN_CLIENT_TRAINING_TORCH_SITE_EVALUATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "client/training/local_evaluator.h"
#include "common/data/dataset.h"
#include "common/evaluation/site_eval_report.h"
#include "common/flat/flat_vector.h"
#include "common/models/model_source.h"

namespace fedlearn {

class TorchModel;
struct LabeledTensors;

class TorchSiteEvaluator : public LocalEvaluator {
 public:
  // InvalidArgument if the model cannot be built, the held-out data is
  // empty, inconsistent (groups neither empty nor one per example) or not
  // accepted by the model, or batch_size < 1.
  static absl::StatusOr<std::unique_ptr<TorchSiteEvaluator>> Create(
      const ModelSource& source, Dataset holdout, int64_t batch_size = 256);
  ~TorchSiteEvaluator() override;

  // kLocal buffer policy only (ignored otherwise): `source` gives the
  // buffers to load before each Evaluate(), in TorchModel::BuffersToFlat()
  // layout (TorchTrainer::LocalBuffers()). It must stay callable while the
  // evaluator is used.
  void UseLocalBuffers(std::function<FlatVector()> source);

  uint64_t NumExamples() const override;
  absl::StatusOr<SiteEvalReport> Evaluate(
      const FlatVector& global, const EvalLayout& layout, uint64_t max_examples,
      const std::atomic<bool>& cancel) override;

 private:
  TorchSiteEvaluator(std::unique_ptr<TorchModel> model,
                     std::unique_ptr<LabeledTensors> data,
                     std::vector<int32_t> groups, int32_t num_classes,
                     int64_t batch_size);

  std::unique_ptr<TorchModel> model_;
  std::unique_ptr<LabeledTensors> data_;
  std::vector<int32_t> groups_;  // empty or one per example
  int32_t num_classes_;
  int64_t batch_size_;
  std::function<FlatVector()> local_buffers_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_TORCH_SITE_EVALUATOR_H_
