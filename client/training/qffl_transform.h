// The client's half of q-FFL / q-FedAvg (Li et al. ICLR 2020, Algorithm 2):
// turns a trained update into the D + 1 values of
// common/config/qffl_update.h. Torch-free math on flat vectors, in double,
// each sent value rounded to float32 once.
//
// Guarantees: the sent values are finite, or the call fails and the result
// is left as it was. Refuses (InvalidArgument) a config without q-FFL, a
// negative or non-finite q, L or F, and a differentially private task: h_k
// grows with ||delta||^2 and F^q, so one client's influence on the
// denominator has no bound that noise could be calibrated to. Refuses
// (OutOfRange) values that overflow float32, and, in a secure round
// (clip_range > 0), an h value above the encoding's clip range: clipping it
// would silently shrink the denominator and lengthen the step.
// Stateless; thread-safe.
#ifndef FEDLEARN_CLIENT_TRAINING_QFFL_TRANSFORM_H_
#define FEDLEARN_CLIENT_TRAINING_QFFL_TRANSFORM_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/training/local_trainer.h"
#include "common/config/training_config.h"
#include "common/flat/flat_vector.h"

namespace fedlearn {

// The D + 1 values u for `delta` = trained - global, with `global_loss` the
// global model's mean loss on the training set (F before kQfflLossOffset).
absl::StatusOr<FlatVector> QfflClientValues(absl::Span<const float> delta,
                                            double global_loss, double q,
                                            double lipschitz);

// Replaces result->delta by QfflClientValues(...) and result->num_examples
// by 1 (every client weighs the same); train_loss, the real one, is kept.
// `clip_range` is the secure encoding's (0: a plaintext round). `dp`: the
// task is differentially private.
// REQUIRES: result->global_loss is set (the trainer computes it whenever
// QfflEnabled(config)).
absl::Status ApplyQfflTransform(const TrainingConfig& config, bool dp,
                                double clip_range, TrainingResult* result);

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_TRAINING_QFFL_TRANSFORM_H_
