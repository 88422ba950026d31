#include "common/data/data_source.h"

#include "absl/strings/str_cat.h"
#include "common/data/csv_reader.h"
#include "common/data/feature_standardizer.h"
#include "common/data/idx_reader.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::StatusOr<Dataset> LoadDataSource(const DataSourceConfig& source,
                                       std::string_view split,
                                       const TableSchema* schema,
                                       TableLoadReport* report) {
  if (schema != nullptr && source.kind != "csv") {
    return absl::InvalidArgumentError(absl::StrCat(
        "a table schema applies only to dataset kind \"csv\", not \"",
        source.kind, "\""));
  }
  if (source.kind == "fashion-mnist") {
    return LoadFashionMnist(
        source.path.empty() ? kDefaultFashionMnistDir : source.path, split);
  }
  if (source.kind == "csv") {
    if (schema != nullptr) {
      SiteTableOptions options;
      options.path = source.path;
      options.delimiter = source.delimiter;
      options.ignore_columns = source.ignore_columns;
      options.group_column = source.group_column;
      options.groups = source.groups;
      return LoadTable(*schema, options, report);
    }
    CsvOptions options;
    options.label_column = source.label_column;
    options.delimiter = source.delimiter;
    options.ignore_columns = source.ignore_columns;
    ASSIGN_OR_RETURN(Dataset data, LoadCsvDataset(source.path, options));
    RETURN_IF_ERROR(FeatureStandardizer::Fit(data).Apply(&data));
    return data;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dataset kind \"", source.kind, "\" (use fashion-mnist or csv)"));
}

}  // namespace fedlearn
