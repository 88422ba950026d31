#include "common/data/data_source.h"

#include "absl/strings/str_cat.h"
#include "common/data/csv_reader.h"
#include "common/data/idx_reader.h"

namespace fedlearn {

absl::StatusOr<Dataset> LoadDataSource(const DataSourceConfig& source,
                                       std::string_view split) {
  if (source.kind == "fashion-mnist") {
    return LoadFashionMnist(
        source.path.empty() ? kDefaultFashionMnistDir : source.path, split);
  }
  if (source.kind == "csv") {
    CsvOptions options;
    options.label_column = source.label_column;
    absl::StatusOr<Dataset> data = LoadCsvDataset(source.path, options);
    if (!data.ok()) return data.status();
    FeatureStandardizer::Fit(*data).Apply(&*data);
    return data;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dataset kind \"", source.kind, "\" (use fashion-mnist or csv)"));
}

}  // namespace fedlearn
