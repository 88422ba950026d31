#include "client/training/record_dp_trainer.h"

#include <utility>

#include "client/training/dp_sgd.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace fedlearn {

RecordDpTrainer::RecordDpTrainer(std::unique_ptr<LocalTrainer> inner,
                                 double noise_multiplier,
                                 RecordPrivacyBudget* budget,
                                 std::function<void(double)> on_epsilon)
    : inner_(std::move(inner)),
      noise_multiplier_(noise_multiplier),
      budget_(budget),
      on_epsilon_(std::move(on_epsilon)) {}

absl::StatusOr<TrainingResult> RecordDpTrainer::Train(
    const FlatVector& global, const TrainingConfig& config,
    const std::atomic<bool>& cancel) {
  if (config.qffl_lipschitz > 0) {
    return absl::FailedPreconditionError(
        "record-level DP cannot train a q-FFL task: its update is weighted "
        "by the site's loss on all its records, which DP-SGD does not "
        "privatise");
  }
  ASSIGN_OR_RETURN(
      const DpSgdPlan plan,
      PlanDpSgd(inner_->NumExamples(), config.batch_size, config.local_epochs));
  RETURN_IF_ERROR(
      budget_
          ->CheckAffordable(plan.sampling_rate, noise_multiplier_, plan.steps)
          .status());
  ASSIGN_OR_RETURN(TrainingResult result,
                   inner_->Train(global, config, cancel));
  ASSIGN_OR_RETURN(
      const double epsilon,
      budget_->Spend(plan.sampling_rate, noise_multiplier_, plan.steps));
  spdlog::info(
      "record-level DP: epsilon = {:.4f} at delta = {:g} after {} "
      "training(s) of these records (budget {:g}); this one: {} DP-SGD steps "
      "at q = {:.6g}, sigma = {:g}, local loss {:.4f} (not sent)",
      epsilon, budget_->delta(), budget_->trainings(),
      budget_->epsilon_budget(), plan.steps, plan.sampling_rate,
      noise_multiplier_, result.train_loss);
  if (on_epsilon_) on_epsilon_(epsilon);
  result.train_loss = 0;
  return result;
}

}  // namespace fedlearn
