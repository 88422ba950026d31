// Per-feature z-scoring, x' = (x - mean) / stddev, fitted on one client's own
// data so that no statistics leave the client. The fitted statistics are part
// of the client's state: save them (ToJson) with the model and apply the same
// ones at inference (FromJson), never refit on the data being scored.
//
// Positions excluded from fitting (one-hot positions of categorical columns,
// see TableSchema::NumericPositions) keep mean 0 and stddev 1, so Apply
// leaves them untouched and the saved form needs no separate mask.
//
// Thread-safety: a plain value; const methods may run concurrently.
#ifndef FEDLEARN_COMMON_DATA_FEATURE_STANDARDIZER_H_
#define FEDLEARN_COMMON_DATA_FEATURE_STANDARDIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/data/dataset.h"

namespace fedlearn {

struct FeatureStandardizer {
  // One entry per position of the sample (Dataset::SampleNumel()).
  std::vector<float> mean;
  // Population standard deviation; a constant feature gets 1 so that it maps
  // to 0 instead of dividing by zero.
  std::vector<float> stddev;

  // Fits every position.
  static FeatureStandardizer Fit(const Dataset& data);
  // Fits the positions where `fit_position` is true; the others get the
  // identity (mean 0, stddev 1).
  // REQUIRES: fit_position.size() == data.SampleNumel().
  static FeatureStandardizer Fit(const Dataset& data,
                                 const std::vector<bool>& fit_position);

  int64_t width() const { return static_cast<int64_t>(mean.size()); }

  // FailedPrecondition (and `data` unchanged) if data->SampleNumel() differs
  // from width().
  absl::Status Apply(Dataset* data) const;

  // {"format": "fedlearn.feature_standardizer.v1", "mean": [...],
  //  "stddev": [...]}; floats round-trip exactly.
  std::string ToJson() const;
  // InvalidArgument for malformed JSON, a wrong format tag, arrays of unequal
  // length, non-finite values or a non-positive stddev; FailedPrecondition
  // when the width differs from `expected_width` (the model's input width,
  // TableSchema::EncodedWidth()): the schema changed since it was fitted.
  static absl::StatusOr<FeatureStandardizer> FromJson(absl::string_view json,
                                                      int64_t expected_width);
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_FEATURE_STANDARDIZER_H_
