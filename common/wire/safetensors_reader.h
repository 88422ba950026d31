// A reader of the safetensors format (https://github.com/huggingface/
// safetensors, the format of the Hugging Face Hub's weights), for starting a
// run from pre-trained weights. Layout:
//   u64 LE N | N bytes of JSON header | byte buffer
// The header maps each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]} (offsets relative to the byte buffer, little-endian data,
// row-major) and may hold a "__metadata__" object of string values.
//
// Guarantees: the header is parsed with a real JSON parser (nlohmann-json)
// and validated as the reference implementation does: N <= 100,000,000 and
// within the file; the header is a JSON object with no duplicate keys;
// every entry has exactly a known dtype, a shape of non-negative integers
// and two offsets; end - begin equals the element count times the dtype's
// size; the tensors' byte ranges neither overlap nor leave holes, and cover
// the byte buffer exactly. Anything else is DataLoss naming the file and
// the first fault; nothing of a malformed file is returned. F32 values are
// returned as they are; F64, F16 and BF16 are converted to float32 (F64
// rounds to nearest; a value beyond float's range becomes +-inf and is
// refused later as non-finite by the caller's checks). Tensors of other
// dtypes (integers, bool, F8) are listed with their dtype and no values, so
// that a spec check can name them. Tensors are returned in header order.
// Torch-free; thread-safe (no state).
#ifndef FEDLEARN_COMMON_WIRE_SAFETENSORS_READER_H_
#define FEDLEARN_COMMON_WIRE_SAFETENSORS_READER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fedlearn {

// One tensor of a weights file.
struct NamedTensor {
  std::string name;
  // The file's dtype name: "F32", "F16", "I64", ... ("F32" for .fmodel).
  std::string dtype;
  std::vector<int64_t> shape;
  // Row-major float32 values; empty unless `convertible`.
  std::vector<float> values;
  // True for F32, F64, F16 and BF16 tensors.
  bool convertible = false;
};

// The reference implementation's bound on the header size.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Parses a whole safetensors file held in `bytes`; `origin` names it in
// errors.
absl::StatusOr<std::vector<NamedTensor>> ParseSafetensors(
    std::string_view bytes, const std::string& origin);

// Reads and parses `path`; NotFound for a missing file.
absl::StatusOr<std::vector<NamedTensor>> ReadSafetensorsFile(
    const std::string& path);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_WIRE_SAFETENSORS_READER_H_
