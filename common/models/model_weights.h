// Pre-trained weights for a model: reading a weights file, checking it
// against the tensors an architecture has, and the digest that lets a site
// prove it holds the same frozen base as the coordinator.
//
// Formats, told apart by content: this system's model file (common/wire/
// model_file.h, "FLMODEL1" magic, written by the coordinator for every
// round) or safetensors (common/wire/safetensors_reader.h). Both are parsed
// and integrity-checked before any value is used.
//
// Guarantees: MatchWeights walks the architecture's tensors in spec order
// and reports the FIRST mismatch: a missing tensor, a shape, a dtype that
// cannot become float32, a non-finite value; then the first tensor of the
// file the architecture does not have (extra). Errors are InvalidArgument
// naming the file and the tensor. Torch-free; thread-safe (no state).
#ifndef FEDLEARN_COMMON_MODELS_MODEL_WEIGHTS_H_
#define FEDLEARN_COMMON_MODELS_MODEL_WEIGHTS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/wire/safetensors_reader.h"

namespace fedlearn {

// The tensors of a model file or a safetensors file, in file order.
// NotFound for a missing file, DataLoss for a corrupt one.
absl::StatusOr<std::vector<NamedTensor>> ReadWeightsFile(
    const std::string& path);

// A tensor the architecture has. An optional one (a BatchNorm buffer under
// buffers = "local") may be absent from the file; if present it must fit.
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  bool required = true;
};

// For each expected tensor, the index of its tensor in `file`, or -1 for
// an absent optional one. `origin` names the file and `architecture` the
// model in the errors.
absl::StatusOr<std::vector<int>> MatchWeights(
    const std::vector<NamedTensor>& file,
    const std::vector<ExpectedTensor>& expected, const std::string& origin,
    const std::string& architecture);

// One frozen tensor as the digest sees it.
struct TensorBytesView {
  std::string_view name;
  std::vector<int64_t> shape;
  absl::Span<const float> values;
};

// SHA-256 (lower-case hex) of the frozen base: for each tensor, in spec
// order, u32 LE name length | name (UTF-8) | u32 LE rank | each dimension
// as i64 LE | the values as float32 LE. Equal tensors give equal digests on
// every platform; any change of a name, shape, value or the order changes
// it.
std::string FrozenBaseSha256(const std::vector<TensorBytesView>& tensors);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_MODELS_MODEL_WEIGHTS_H_
