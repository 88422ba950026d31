// An in-memory labelled dataset: the unit every loader produces and every
// partitioner and trainer consumes. Torch-free so that loaders and
// partitioners can be used (and tested) without LibTorch.
//
// Invariant: features.size() == size() * SampleNumel(), labels in
// [0, num_classes); groups is empty or has size() entries.
#ifndef FEDLEARN_COMMON_DATA_DATASET_H_
#define FEDLEARN_COMMON_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

namespace fedlearn {

struct Dataset {
  // Per-sample shape, e.g. {1, 28, 28} for Fashion-MNIST or {30} for a table.
  std::vector<int64_t> sample_shape;
  // Row-major, sample after sample.
  std::vector<float> features;
  std::vector<int32_t> labels;
  int32_t num_classes = 0;
  // Optional human-readable class names (CSV label values), index = label.
  std::vector<std::string> class_names;
  // Optional, federated evaluation only: each sample's group index (the
  // contract's EvaluationSpec.groups position of its group_column value),
  // -1 when missing or not declared. Empty: no groups.
  std::vector<int32_t> groups;

  size_t size() const { return labels.size(); }
  int64_t SampleNumel() const {
    int64_t n = 1;
    for (int64_t d : sample_shape) n *= d;
    return n;
  }
  // The subset at the given indices (in that order).
  Dataset Subset(const std::vector<size_t>& indices) const {
    Dataset out;
    out.sample_shape = sample_shape;
    out.num_classes = num_classes;
    out.class_names = class_names;
    const int64_t numel = SampleNumel();
    out.features.reserve(indices.size() * numel);
    out.labels.reserve(indices.size());
    for (size_t i : indices) {
      out.features.insert(out.features.end(), features.begin() + i * numel,
                          features.begin() + (i + 1) * numel);
      out.labels.push_back(labels[i]);
      if (!groups.empty()) out.groups.push_back(groups[i]);
    }
    return out;
  }
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_DATASET_H_
