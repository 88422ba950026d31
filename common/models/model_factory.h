// Turns a ModelSource into the initial global model, as flat parameters.
//
// Torch-free so that the coordinator can create the model it federates
// without becoming a LibTorch translation unit; the definition lives in
// torch_model.cc.
#ifndef FEDLEARN_COMMON_MODELS_MODEL_FACTORY_H_
#define FEDLEARN_COMMON_MODELS_MODEL_FACTORY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/flat/flat_vector.h"
#include "common/models/model_source.h"

namespace fedlearn {

// The spec and initial parameters of `source`. Zoo models are initialised
// from `seed` (equal seeds give identical models); a TorchScript model keeps
// the parameters stored in its file; source.initial_weights, if set,
// replaces both. With parameters frozen, the model holds only the trainable
// tensors, and `frozen_base_sha256` (if not null) receives the digest of
// the frozen ones (the contract's base_weights_sha256; "" when nothing is
// frozen). Errors as TorchModel::Create.
absl::StatusOr<FlatModel> CreateInitialModel(
    const ModelSource& source, uint64_t seed,
    std::string* frozen_base_sha256 = nullptr);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_MODELS_MODEL_FACTORY_H_
