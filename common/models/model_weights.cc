#include "common/models/model_weights.h"

#include <cmath>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto/sha256.h"
#include "common/flat/flat_vector.h"
#include "common/util/atomic_file.h"
#include "common/util/escape.h"
#include "common/util/status_macros.h"
#include "common/wire/model_file.h"

namespace fedlearn {
namespace {

constexpr char kModelFileMagic[] = "FLMODEL1";

std::string Shape(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

absl::StatusOr<std::vector<NamedTensor>> ReadOwnModelFile(
    const std::string& path) {
  ASSIGN_OR_RETURN(SavedModel saved, ReadModelFile(path));
  std::vector<NamedTensor> out;
  const float* next = saved.model.values.data();
  for (const TensorSpec& t : saved.model.spec.tensors) {
    NamedTensor tensor;
    tensor.name = t.name;
    tensor.dtype = "F32";
    tensor.shape = t.shape;
    tensor.values.assign(next, next + t.NumElements());
    tensor.convertible = true;
    next += t.NumElements();
    out.push_back(std::move(tensor));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<NamedTensor>> ReadWeightsFile(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kModelFileMagic, 8) == 0) {
    return ReadOwnModelFile(path);
  }
  return ParseSafetensors(bytes, path);
}

absl::StatusOr<std::vector<int>> MatchWeights(
    const std::vector<NamedTensor>& file,
    const std::vector<ExpectedTensor>& expected, const std::string& origin,
    const std::string& architecture) {
  auto mismatch = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat("the weights in ", origin, " do not fit the ",
                     architecture, " model: ", what));
  };
  std::map<std::string, int> by_name;
  for (size_t i = 0; i < file.size(); ++i) by_name[file[i].name] = int(i);
  std::vector<int> out;
  for (const ExpectedTensor& want : expected) {
    auto it = by_name.find(want.name);
    if (it == by_name.end()) {
      if (want.required) {
        return mismatch(
            absl::StrCat("missing tensor ", want.name, " ", Shape(want.shape)));
      }
      out.push_back(-1);
      continue;
    }
    const NamedTensor& got = file[it->second];
    if (got.shape != want.shape) {
      return mismatch(absl::StrCat("tensor ", want.name, " has shape ",
                                   Shape(got.shape), ", the model's is ",
                                   Shape(want.shape)));
    }
    if (!got.convertible) {
      return mismatch(absl::StrCat(
          "tensor ", want.name, " has dtype ", EscapeUntrusted(got.dtype, 16),
          "; the model's is float32 (F32, F64, F16 and BF16 are read)"));
    }
    if (absl::Status s = CheckAllFinite(got.values); !s.ok()) {
      return mismatch(absl::StrCat("tensor ", want.name, ": ", s.message()));
    }
    out.push_back(it->second);
  }
  std::map<std::string, bool> known;
  for (const ExpectedTensor& want : expected) known[want.name] = true;
  for (const NamedTensor& got : file) {
    if (!known.count(got.name)) {
      return mismatch(absl::StrCat("extra tensor ",
                                   EscapeUntrusted(got.name, 64),
                                   " (the model has no tensor of that name)"));
    }
  }
  return out;
}

std::string FrozenBaseSha256(const std::vector<TensorBytesView>& tensors) {
  std::string bytes;
  auto put_u32 = [&bytes](uint32_t v) {
    for (int b = 0; b < 4; ++b) bytes.push_back(char((v >> (8 * b)) & 0xff));
  };
  for (const TensorBytesView& t : tensors) {
    put_u32(static_cast<uint32_t>(t.name.size()));
    bytes.append(t.name);
    put_u32(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) {
      const uint64_t u = static_cast<uint64_t>(d);
      for (int b = 0; b < 8; ++b) bytes.push_back(char((u >> (8 * b)) & 0xff));
    }
    AppendFloat32LE(t.values, &bytes);
  }
  return Sha256Hex(bytes);
}

}  // namespace fedlearn
