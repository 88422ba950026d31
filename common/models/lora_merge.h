// Folding LoRA adapters into the layers they adapt, on flat models, so that
// a fine-tuned model can be served without the adapter arithmetic.
//
// Naming convention, shared by the zoo (lora_linear.h) and TorchScript
// modules (examples/finetune/make_lora_model.py): an adapted linear layer
// "<layer>" has the tensors <layer>.weight [out, in], optionally
// <layer>.bias [out], <layer>.lora_A [r, in] and <layer>.lora_B [out, r],
// and computes W x + b + (alpha / r) B A x. The spec does not carry alpha:
// the run contract (ModelDefinition.lora) does, or the operator gives it.
//
// Guarantees: MergeLoraAdapters leaves every tensor that is not an adapter
// in place and in order, adds (alpha / r) B A to each adapted weight
// (accumulated in double, rounded once to float32), and drops the adapters,
// so the result has the spec of the unadapted architecture. It refuses
// (InvalidArgument) an adapter without its partner or its weight, shapes that
// do not fit, and a non-positive or non-finite alpha; a model without
// adapters is FailedPrecondition. Pure functions; torch-free; thread-safe.
#ifndef FEDLEARN_COMMON_MODELS_LORA_MERGE_H_
#define FEDLEARN_COMMON_MODELS_LORA_MERGE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/flat/flat_vector.h"

namespace fedlearn {

inline constexpr char kLoraASuffix[] = ".lora_A";
inline constexpr char kLoraBSuffix[] = ".lora_B";

// True for "<layer>.lora_A" and "<layer>.lora_B".
bool IsLoraAdapterName(absl::string_view name);

// The `trainable` patterns (parameter_selection.h) of a model with adapters:
// the adapters ("*.lora_A", "*.lora_B") followed by the user's `trainable`
// ones; every other parameter is frozen. A `frozen` list is InvalidArgument
// (with adapters on, name the extra parameters that train instead).
absl::StatusOr<std::vector<std::string>> LoraTrainablePatterns(
    const std::vector<std::string>& trainable,
    const std::vector<std::string>& frozen);

struct LoraMergeResult {
  FlatModel model;
  int merged_layers = 0;
  int64_t dropped_values = 0;  // adapter values no longer in the model
};

// `model` with every adapted layer merged (see the file comment).
absl::StatusOr<LoraMergeResult> MergeLoraAdapters(const FlatModel& model,
                                                  double alpha);

// A model holding `base`'s tensors in `base`'s order, each replaced by the
// tensor of the same name in `adapted` when it has one (same shape, or
// InvalidArgument), followed by `adapted`'s adapter tensors. A tensor of
// `adapted` that is neither in `base` nor an adapter is InvalidArgument
// (the files are of different models). The architecture is `adapted`'s.
// For an adapter file whose frozen base tensors are kept elsewhere.
absl::StatusOr<FlatModel> OverlayOnBase(const FlatModel& base,
                                        const FlatModel& adapted);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_MODELS_LORA_MERGE_H_
