// Names a dataset in configuration and loads it: the Fashion-MNIST IDX files
// shipped by Debian's dataset-fashion-mnist package (or a directory holding
// the same files), or a CSV table.
//
// A CSV table loads one of two ways:
//  - with a TableSchema (the run's data contract): LoadTable checks the file
//    against it and the raw, unstandardised dataset is returned; the caller
//    fits a FeatureStandardizer on TableSchema::NumericPositions(), saves it
//    with its state and applies the saved one at inference. label_column is
//    then ignored (the schema names the label).
//  - without one (simulations, examples): every non-label, non-ignored column
//    is a numeric feature, classes are inferred by sorting the labels found,
//    and features are standardised with statistics fitted on the loaded data
//    itself, so a client never needs anyone else's data to prepare its own.
#ifndef FEDLEARN_COMMON_DATA_DATA_SOURCE_H_
#define FEDLEARN_COMMON_DATA_DATA_SOURCE_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/data/table_loader.h"
#include "common/data/table_schema.h"

namespace fedlearn {

struct DataSourceConfig {
  std::string kind;  // "fashion-mnist", "csv", or "" for none
  std::string path;  // IDX directory (optional) or CSV file (required)
  std::string label_column = "label";       // CSV without a schema only
  char delimiter = ',';                     // CSV
  std::vector<std::string> ignore_columns;  // CSV: header names to skip
  // CSV with a schema only: federated evaluation's group attribute
  // (SiteTableOptions::group_column), from the run's contract.
  std::string group_column;
  std::vector<std::string> groups;
};

// A source of `kind` at `path`, every other field at its default (positional
// braces would bind values to fields by their order).
inline DataSourceConfig DataSourceOfKind(std::string kind,
                                         std::string path = "") {
  DataSourceConfig source;
  source.kind = std::move(kind);
  source.path = std::move(path);
  return source;
}

// `split` is "train" or "test" (Fashion-MNIST only; a CSV is one split).
// `schema` (CSV only; InvalidArgument for other kinds) selects LoadTable, and
// `report`, which may be null, then receives its TableLoadReport.
absl::StatusOr<Dataset> LoadDataSource(const DataSourceConfig& source,
                                       std::string_view split,
                                       const TableSchema* schema = nullptr,
                                       TableLoadReport* report = nullptr);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_DATA_SOURCE_H_
