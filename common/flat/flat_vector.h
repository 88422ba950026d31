// Flat parameter vectors and the tensor spec that gives them shape.
//
// Every model update travels as one contiguous float32 vector plus a ModelSpec
// (tensor names, shapes, dtypes in a fixed order). Clipping, quantization,
// masking and noise operate on the flat vector without knowing the model.
//
// FlatVector owns its buffer and is move-only: a copy of a 100 MB model must be
// asked for explicitly with Clone(), never made by accident.
#ifndef FEDLEARN_COMMON_FLAT_FLAT_VECTOR_H_
#define FEDLEARN_COMMON_FLAT_FLAT_VECTOR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace fedlearn {

enum class DType { kFloat32 };

// What a tensor of the flat vector is to the model. Parameters are trained
// by gradient steps; buffers are state the forward pass updates in training
// mode (BatchNorm running statistics). Both federate alike (deltas averaged
// by FedAvg); code that treats gradients specially (clipping, freezing) can
// tell them apart. A model's buffers follow all of its parameters.
enum class TensorKind { kParameter, kBuffer };

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::kFloat32;
  TensorKind kind = TensorKind::kParameter;

  int64_t NumElements() const;
  bool operator==(const TensorSpec& other) const;
  bool operator!=(const TensorSpec& other) const { return !(*this == other); }
};

struct ModelSpec {
  // "lenet5", "mlp", "logreg" for the built-in zoo, "torchscript" for a
  // module loaded from a file. Informational: compatibility is decided by the
  // tensor list.
  std::string architecture;
  std::vector<TensorSpec> tensors;

  int64_t NumElements() const;
  // Same tensors in the same order (architecture string is not compared).
  bool CompatibleWith(const ModelSpec& other) const;
  // Human-readable first difference, for error messages; empty if compatible.
  std::string DescribeMismatch(const ModelSpec& other) const;
};

class FlatVector {
 public:
  FlatVector() = default;
  explicit FlatVector(size_t size) : values_(size, 0.0f) {}
  explicit FlatVector(std::vector<float> values) : values_(std::move(values)) {}

  FlatVector(FlatVector&&) noexcept = default;
  FlatVector& operator=(FlatVector&&) noexcept = default;
  FlatVector(const FlatVector&) = delete;
  FlatVector& operator=(const FlatVector&) = delete;

  FlatVector Clone() const { return FlatVector(values_); }

  size_t size() const { return values_.size(); }
  bool empty() const { return values_.empty(); }
  float* data() { return values_.data(); }
  const float* data() const { return values_.data(); }
  float& operator[](size_t i) { return values_[i]; }
  float operator[](size_t i) const { return values_[i]; }
  absl::Span<float> span() { return absl::MakeSpan(values_); }
  absl::Span<const float> span() const { return absl::MakeConstSpan(values_); }
  std::vector<float> Release() && { return std::move(values_); }

 private:
  std::vector<float> values_;
};

struct FlatModel {
  ModelSpec spec;
  FlatVector values;
};

// OK if every value is finite; otherwise InvalidArgument naming the first bad
// index (NaN or Inf updates are never folded into an aggregate).
absl::Status CheckAllFinite(absl::Span<const float> values);

// Little-endian float32 byte encoding used on the wire and on disk.
void AppendFloat32LE(absl::Span<const float> values, std::string* out);
// Decodes bytes.size()/4 floats into dst; InvalidArgument if bytes.size() is
// not a multiple of 4 or dst is too small.
absl::Status DecodeFloat32LE(std::string_view bytes, absl::Span<float> dst);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_FLAT_FLAT_VECTOR_H_
