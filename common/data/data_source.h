// Names a dataset in configuration and loads it: the Fashion-MNIST IDX files
// shipped by Debian's dataset-fashion-mnist package (or a directory holding
// the same files), or a CSV table with a label column. CSV features are
// standardised with statistics fitted on the loaded data itself, so a client
// never needs anyone else's data to prepare its own.
#ifndef FEDLEARN_COMMON_DATA_DATA_SOURCE_H_
#define FEDLEARN_COMMON_DATA_DATA_SOURCE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace fedlearn {

struct DataSourceConfig {
  std::string kind;  // "fashion-mnist", "csv", or "" for none
  std::string path;  // IDX directory (optional) or CSV file (required)
  std::string label_column = "label";
};

// `split` is "train" or "test" (Fashion-MNIST only; a CSV is one split).
absl::StatusOr<Dataset> LoadDataSource(const DataSourceConfig& source,
                                       std::string_view split);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_DATA_SOURCE_H_
