// Loader for tabular datasets stored as delimited text (CSV), and the
// per-client feature standardisation that tabular models need.
//
// Guarantees: every non-label cell is a finite number; every row has as many
// fields as the header (or the first row); labels map to dense class indices
// [0, num_classes) with class_names[i] the label text of class i. Fields are
// trimmed of surrounding whitespace (which also drops Windows' trailing \r);
// blank lines are skipped. Quoted fields are not supported: a cell containing
// the delimiter splits. Every error names the file and, where there is one,
// the line (1-based, counting the header) and column.
#ifndef FEDLEARN_COMMON_DATA_CSV_READER_H_
#define FEDLEARN_COMMON_DATA_CSV_READER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace fedlearn {

struct CsvOptions {
  // The label column's name, or its 0-based index (as a string) when
  // has_header is false.
  std::string label_column = "label";
  bool has_header = true;
  char delimiter = ',';
  // If non-empty, the allowed label values in class-index order; any other
  // value is an error. If empty, the distinct values found, sorted
  // numerically when all are numbers and lexicographically otherwise.
  std::vector<std::string> label_values;
};

// Loads `path`; sample_shape is {number of non-label columns}.
// A missing file yields NotFound; malformed content InvalidArgument.
absl::StatusOr<Dataset> LoadCsvDataset(const std::string& path,
                                       const CsvOptions& options);

// Per-feature z-scoring, x' = (x - mean) / stddev, fitted on one client's own
// data so that no statistics leave the client. Works on any Dataset, treating
// each of the SampleNumel() positions as one feature.
struct FeatureStandardizer {
  std::vector<float> mean;
  // Population standard deviation; a constant feature gets 1 so that it maps
  // to 0 instead of dividing by zero.
  std::vector<float> stddev;

  static FeatureStandardizer Fit(const Dataset& data);
  // Requires data->SampleNumel() == mean.size().
  void Apply(Dataset* data) const;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_CSV_READER_H_
