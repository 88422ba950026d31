// Record-level DP around a site's trainer: a LocalTrainer that runs each
// task's training under DP-SGD (the wrapped TorchTrainer, after
// EnableDpSgd) and keeps the site's privacy ledger (record_privacy_budget.h).
//
// For every Train(): PlanDpSgd(N, task batch size, task epochs) gives the
// steps T at q = B/N (dp_sgd.h); the budget is checked before any training
// (a task that would exceed it is refused with IsRecordBudgetRefusal, the
// inner trainer untouched); after a successful training the T steps are
// spent (ledger written) and epsilon logged and reported to `on_epsilon`,
// before the result is returned, so no update leaves unrecorded. A
// cancelled or failed training spends nothing (nothing is released).
//
// What leaves the site: the delta (private by DP-SGD) and num_examples = N
// (the site's record count, treated as public, as in every federated
// weighting). train_loss is computed from the records without noise, so it
// is logged locally and sent as 0.
//
// Refuses (FailedPrecondition): q-FFL tasks (their loss-weighted update uses
// the site's loss on all its records, outside DP-SGD).
// Thread-safety: as the inner trainer (one Train() at a time); on_epsilon is
// called from the training thread.
// Torch-free.
#ifndef FEDLEARN_CLIENT_TRAINING_RECORD_DP_TRAINER_H_
#define FEDLEARN_CLIENT_TRAINING_RECORD_DP_TRAINER_H_

#include <atomic>
#include <functional>
#include <memory>

#include "client/training/local_trainer.h"
#include "client/training/record_privacy_budget.h"

namespace fedlearn {

class RecordDpTrainer : public LocalTrainer {
 public:
  // `inner` must already train with DP-SGD at `noise_multiplier`; `budget`
  // must outlive this (it outlives trainers: one ledger per site).
  RecordDpTrainer(std::unique_ptr<LocalTrainer> inner, double noise_multiplier,
                  RecordPrivacyBudget* budget,
                  std::function<void(double epsilon)> on_epsilon = nullptr);

  const ModelSpec& Spec() const override { return inner_->Spec(); }
  uint64_t NumExamples() const override { return inner_->NumExamples(); }
  absl::StatusOr<TrainingResult> Train(
      const FlatVector& global, const TrainingConfig& config,
      const std::atomic<bool>& cancel) override;

  LocalTrainer& inner() { return *inner_; }

 private:
  std::unique_ptr<LocalTrainer> inner_;
  const double noise_multiplier_;
  RecordPrivacyBudget* const budget_;
  std::function<void(double)> on_epsilon_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_RECORD_DP_TRAINER_H_
