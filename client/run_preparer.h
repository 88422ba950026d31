// How a site gets ready for a run: the coordinator declares a contract (the
// model definition and, for tabular tasks, the data schema); the site loads
// its data against the schema, builds the model the definition names and
// checks it has exactly the contract's tensors. Nothing about the model or
// the classes is inferred from the site's own data.
//
// A preparer's errors are the site's own (its file does not match the
// schema, it cannot build the model): the session treats every one as
// permanent for this contract, tells the coordinator why, and stops.
// Torch-free interface; the LibTorch implementation is
// client/training/torch_run_preparer.h.
// Thread-safety: one Prepare() at a time; the trainer returned stays valid
// until the next Prepare() or the preparer's destruction.
#ifndef FEDLEARN_CLIENT_RUN_PREPARER_H_
#define FEDLEARN_CLIENT_RUN_PREPARER_H_

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "client/training/local_evaluator.h"
#include "client/training/local_trainer.h"
#include "common/util/status_macros.h"
#include "common/wire/run_contract.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

class RunPreparer {
 public:
  virtual ~RunPreparer() = default;
  virtual absl::StatusOr<LocalTrainer*> Prepare(
      const v1::RunContract& contract) = 0;
  // Federated evaluation: the evaluator of the held-out split the last
  // successful Prepare() set aside, valid as long as its trainer; null when
  // the contract asks for no evaluation or this site holds nothing out.
  virtual LocalEvaluator* Evaluator() { return nullptr; }
};

// A trainer built up front (tests; the simulation's shards): the contract's
// tensor spec must equal the trainer's.
class FixedTrainerPreparer : public RunPreparer {
 public:
  // `evaluator` may be null (no held-out split).
  explicit FixedTrainerPreparer(LocalTrainer* trainer,
                                LocalEvaluator* evaluator = nullptr)
      : trainer_(trainer), evaluator_(evaluator) {}
  absl::StatusOr<LocalTrainer*> Prepare(
      const v1::RunContract& contract) override {
    if (contract.model().has_spec()) {
      RETURN_IF_ERROR(
          CheckModelMatchesContract(trainer_->Spec(), contract.model()));
    }
    return trainer_;
  }
  LocalEvaluator* Evaluator() override { return evaluator_; }

 private:
  LocalTrainer* const trainer_;
  LocalEvaluator* const evaluator_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_RUN_PREPARER_H_
