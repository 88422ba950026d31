#include "common/models/lora_merge.h"

#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// Where each tensor of `spec` starts in the flat vector, by name.
struct TensorIndex {
  std::map<std::string, size_t> position;  // into spec.tensors
  std::vector<int64_t> offset;
};

absl::StatusOr<TensorIndex> IndexTensors(const FlatModel& model) {
  TensorIndex index;
  int64_t offset = 0;
  for (size_t i = 0; i < model.spec.tensors.size(); ++i) {
    const TensorSpec& t = model.spec.tensors[i];
    if (!index.position.emplace(t.name, i).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("the model has two tensors named ", t.name));
    }
    index.offset.push_back(offset);
    offset += t.NumElements();
  }
  if (offset != static_cast<int64_t>(model.values.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model's spec has ", offset, " values, its vector ",
                     model.values.size()));
  }
  return index;
}

std::string LayerOf(absl::string_view adapter_name) {
  return std::string(adapter_name.substr(0, adapter_name.rfind('.')));
}

// Adds scaling * B A to W (all row-major float32 spans of a flat vector).
void AddLowRankProduct(const float* b, const float* a, int64_t out, int64_t in,
                       int64_t rank, double scaling, float* w) {
  std::vector<double> row(in);
  for (int64_t o = 0; o < out; ++o) {
    std::fill(row.begin(), row.end(), 0.0);
    for (int64_t k = 0; k < rank; ++k) {
      const double bk = b[o * rank + k];
      if (bk == 0.0) continue;
      const float* a_row = a + k * in;
      for (int64_t i = 0; i < in; ++i) row[i] += bk * a_row[i];
    }
    float* w_row = w + o * in;
    for (int64_t i = 0; i < in; ++i) {
      w_row[i] = static_cast<float>(w_row[i] + scaling * row[i]);
    }
  }
}

// Checks one layer's shapes: A [r, in], B [out, r], W [out, in].
absl::Status CheckLayerShapes(const std::string& layer, const TensorSpec& a,
                              const TensorSpec& b, const TensorSpec& w) {
  if (a.shape.size() != 2 || b.shape.size() != 2 || w.shape.size() != 2 ||
      a.shape[0] != b.shape[1] || a.shape[1] != w.shape[1] ||
      b.shape[0] != w.shape[0] || a.shape[0] <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer ", layer, ": lora_A ", ShapeString(a.shape), ", lora_B ",
        ShapeString(b.shape), " and weight ", ShapeString(w.shape),
        " do not fit (need [r,in], [out,r], [out,in])"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsLoraAdapterName(absl::string_view name) {
  return absl::EndsWith(name, kLoraASuffix) ||
         absl::EndsWith(name, kLoraBSuffix);
}

absl::StatusOr<std::vector<std::string>> LoraTrainablePatterns(
    const std::vector<std::string>& trainable,
    const std::vector<std::string>& frozen) {
  if (!frozen.empty()) {
    return absl::InvalidArgumentError(
        "with LoRA adapters (lora_rank > 0) every parameter but the adapters "
        "is frozen: list the other parameters that should train in "
        "trainable, not frozen");
  }
  std::vector<std::string> patterns = {std::string("*") + kLoraASuffix,
                                       std::string("*") + kLoraBSuffix};
  patterns.insert(patterns.end(), trainable.begin(), trainable.end());
  return patterns;
}

absl::StatusOr<LoraMergeResult> MergeLoraAdapters(const FlatModel& model,
                                                  double alpha) {
  if (!std::isfinite(alpha) || alpha <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LoRA alpha must be positive and finite, got ", alpha));
  }
  ASSIGN_OR_RETURN(TensorIndex index, IndexTensors(model));
  const std::vector<TensorSpec>& tensors = model.spec.tensors;
  FlatVector merged_values = model.values.Clone();
  LoraMergeResult result;
  for (const TensorSpec& t : tensors) {
    if (!IsLoraAdapterName(t.name)) continue;
    const std::string layer = LayerOf(t.name);
    auto a = index.position.find(layer + kLoraASuffix);
    auto b = index.position.find(layer + kLoraBSuffix);
    auto w = index.position.find(layer + ".weight");
    if (a == index.position.end() || b == index.position.end() ||
        w == index.position.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "adapter ", t.name, " needs ", layer, kLoraASuffix, ", ", layer,
          kLoraBSuffix, " and ", layer, ".weight in the same model"));
    }
    result.dropped_values += t.NumElements();
    if (!absl::EndsWith(t.name, kLoraASuffix)) continue;  // once per layer
    const TensorSpec& ta = tensors[a->second];
    const TensorSpec& tb = tensors[b->second];
    const TensorSpec& tw = tensors[w->second];
    RETURN_IF_ERROR(CheckLayerShapes(layer, ta, tb, tw));
    const int64_t rank = ta.shape[0];
    AddLowRankProduct(model.values.data() + index.offset[b->second],
                      model.values.data() + index.offset[a->second],
                      tw.shape[0], tw.shape[1], rank, alpha / rank,
                      merged_values.data() + index.offset[w->second]);
    ++result.merged_layers;
  }
  if (result.merged_layers == 0) {
    return absl::FailedPreconditionError(
        "the model has no LoRA adapters (no tensor named <layer>.lora_A)");
  }
  std::vector<float> kept;
  kept.reserve(model.values.size() - result.dropped_values);
  result.model.spec.architecture = model.spec.architecture;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (IsLoraAdapterName(tensors[i].name)) continue;
    result.model.spec.tensors.push_back(tensors[i]);
    const float* begin = merged_values.data() + index.offset[i];
    kept.insert(kept.end(), begin, begin + tensors[i].NumElements());
  }
  result.model.values = FlatVector(std::move(kept));
  return result;
}

absl::StatusOr<FlatModel> OverlayOnBase(const FlatModel& base,
                                        const FlatModel& adapted) {
  ASSIGN_OR_RETURN(TensorIndex base_index, IndexTensors(base));
  ASSIGN_OR_RETURN(TensorIndex adapted_index, IndexTensors(adapted));
  for (const TensorSpec& t : adapted.spec.tensors) {
    if (!IsLoraAdapterName(t.name) && !base_index.position.count(t.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", t.name,
                       " of the adapter model is not in "
                       "the base model: the files are of different models"));
    }
  }
  FlatModel out;
  out.spec.architecture = adapted.spec.architecture;
  std::vector<float> values;
  auto append = [&values](const FlatModel& from, int64_t offset,
                          const TensorSpec& t) {
    const float* begin = from.values.data() + offset;
    values.insert(values.end(), begin, begin + t.NumElements());
  };
  for (size_t i = 0; i < base.spec.tensors.size(); ++i) {
    const TensorSpec& t = base.spec.tensors[i];
    auto found = adapted_index.position.find(t.name);
    if (found == adapted_index.position.end()) {
      append(base, base_index.offset[i], t);
    } else {
      const TensorSpec& u = adapted.spec.tensors[found->second];
      if (u.shape != t.shape) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor ", t.name, " is ", ShapeString(u.shape),
                         " in the adapter model but ", ShapeString(t.shape),
                         " in the base"));
      }
      append(adapted, adapted_index.offset[found->second], u);
    }
    out.spec.tensors.push_back(t);
  }
  for (size_t i = 0; i < adapted.spec.tensors.size(); ++i) {
    const TensorSpec& t = adapted.spec.tensors[i];
    if (!IsLoraAdapterName(t.name) || base_index.position.count(t.name)) {
      continue;
    }
    append(adapted, adapted_index.offset[i], t);
    out.spec.tensors.push_back(t);
  }
  out.values = FlatVector(std::move(values));
  return out;
}

}  // namespace fedlearn
