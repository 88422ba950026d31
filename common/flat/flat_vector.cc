#include "common/flat/flat_vector.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fedlearn {
namespace {

static_assert(sizeof(float) == 4, "float32 required");

bool HostIsLittleEndian() {
  const uint32_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

const char* KindName(TensorKind kind) {
  return kind == TensorKind::kBuffer ? "buffer" : "parameter";
}

size_t NumBuffers(const std::vector<TensorSpec>& tensors) {
  size_t n = 0;
  for (const TensorSpec& t : tensors) n += t.kind == TensorKind::kBuffer;
  return n;
}

}  // namespace

int64_t TensorSpec::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool TensorSpec::operator==(const TensorSpec& other) const {
  return name == other.name && shape == other.shape && dtype == other.dtype &&
         kind == other.kind;
}

int64_t ModelSpec::NumElements() const {
  int64_t n = 0;
  for (const TensorSpec& t : tensors) n += t.NumElements();
  return n;
}

bool ModelSpec::CompatibleWith(const ModelSpec& other) const {
  return tensors == other.tensors;
}

std::string ModelSpec::DescribeMismatch(const ModelSpec& other) const {
  if (tensors.size() != other.tensors.size()) {
    // A differing buffer count usually means the two sides disagree on
    // whether buffers are federated.
    return absl::StrCat("tensor count ", tensors.size(), " vs ",
                        other.tensors.size(), ", of which buffers ",
                        NumBuffers(tensors), " vs ", NumBuffers(other.tensors));
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& a = tensors[i];
    const TensorSpec& b = other.tensors[i];
    if (a != b) {
      return absl::StrCat("tensor #", i, ": ", KindName(a.kind), " ", a.name,
                          ShapeString(a.shape), " vs ", KindName(b.kind), " ",
                          b.name, ShapeString(b.shape));
    }
  }
  return "";
}

absl::Status CheckAllFinite(absl::Span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("value at index ", i, " is not finite (",
                       std::isnan(values[i]) ? "NaN" : "Inf", ")"));
    }
  }
  return absl::OkStatus();
}

void AppendFloat32LE(absl::Span<const float> values, std::string* out) {
  const size_t offset = out->size();
  out->resize(offset + values.size() * 4);
  char* dst = out->data() + offset;
  if (HostIsLittleEndian()) {
    if (!values.empty()) std::memcpy(dst, values.data(), values.size() * 4);
    return;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], 4);
    for (int b = 0; b < 4; ++b) dst[4 * i + b] = char((bits >> (8 * b)) & 0xff);
  }
}

absl::Status DecodeFloat32LE(std::string_view bytes, absl::Span<float> dst) {
  if (bytes.size() % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "float32 payload of ", bytes.size(), " bytes is not a multiple of 4"));
  }
  const size_t n = bytes.size() / 4;
  if (n > dst.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payload holds ", n, " floats but only ", dst.size(), " expected"));
  }
  if (HostIsLittleEndian()) {
    if (n > 0) std::memcpy(dst.data(), bytes.data(), n * 4);  // may be null
    return absl::OkStatus();
  }
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) {
      bits |= uint32_t(static_cast<unsigned char>(bytes[4 * i + b])) << (8 * b);
    }
    std::memcpy(&dst[i], &bits, 4);
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
