// The contract between the client's protocol code and local training.
//
// The protocol side (client session, daemon, simulation) only sees this
// interface; the LibTorch implementation lives in torch_trainer.{h,cc}, the
// only client translation units that include <torch/...>.
#ifndef FEDLEARN_CLIENT_TRAINING_LOCAL_TRAINER_H_
#define FEDLEARN_CLIENT_TRAINING_LOCAL_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/config/training_config.h"
#include "common/flat/flat_vector.h"

namespace fedlearn {

struct TrainingResult {
  // trained - global over the whole flat vector, in the spec's order:
  // parameters, then any federated buffers (TensorKind::kBuffer).
  FlatVector delta;
  uint64_t num_examples = 0;
  // Mean training loss over the last local epoch.
  double train_loss = 0.0;
  double seconds = 0.0;
  // q-FFL (config.qffl_lipschitz > 0): F_k, the mean loss of the global
  // model on the whole training set, in eval mode, before any step.
  std::optional<double> global_loss;
};

class LocalTrainer {
 public:
  virtual ~LocalTrainer() = default;
  // The spec of the local model; the server's task must match it.
  virtual const ModelSpec& Spec() const = 0;
  virtual uint64_t NumExamples() const = 0;
  // Loads `global` into the local model, trains, returns the delta.
  // Returns Cancelled if `cancel` becomes true mid-training (no partial
  // result is ever returned), InvalidArgument on a spec/size mismatch.
  virtual absl::StatusOr<TrainingResult> Train(
      const FlatVector& global, const TrainingConfig& config,
      const std::atomic<bool>& cancel) = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_LOCAL_TRAINER_H_
