#include "common/data/csv_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/data/csv_parser.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using ClassIndex = std::map<std::string, int32_t, std::less<>>;

// The whole of `text` as a double, or nullopt if any of it is not part of
// the number. Overflow to +-inf counts as a number (callers check finiteness).
std::optional<double> ParseDouble(absl::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ptr != end || ec == std::errc::invalid_argument) return std::nullopt;
  if (ec == std::errc::result_out_of_range) return HUGE_VAL;
  return value;
}

// File-supplied text for a message, in this loader's single quotes.
std::string Excerpt(absl::string_view text) {
  constexpr size_t kMax = 48;
  if (text.size() <= kMax)
    return absl::StrCat("'", absl::CHexEscape(text), "'");
  return absl::StrCat("'", absl::CHexEscape(text.substr(0, kMax)), "...' (",
                      text.size(), " bytes)");
}

// The distinct labels, sorted numerically if all are numbers other than NaN
// (so "10" comes after "9"), otherwise lexicographically.
std::vector<std::string> SortedDistinct(
    const std::vector<std::string>& labels) {
  std::vector<std::string> distinct = labels;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  const bool all_numeric =
      std::all_of(distinct.begin(), distinct.end(), [](const std::string& s) {
        const std::optional<double> v = ParseDouble(s);
        return v.has_value() && !std::isnan(*v);
      });
  if (all_numeric) {
    std::stable_sort(distinct.begin(), distinct.end(),
                     [](const std::string& a, const std::string& b) {
                       return *ParseDouble(a) < *ParseDouble(b);
                     });
  }
  return distinct;
}

// "<path>: <parts>" as InvalidArgument.
template <typename... Parts>
absl::Status FileError(const std::string& path, const Parts&... parts) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", parts...));
}

// options.label_values as class indices; empty when the classes are to be
// inferred.
absl::StatusOr<ClassIndex> GivenClasses(const std::string& path,
                                        const CsvOptions& options) {
  ClassIndex given;
  for (size_t i = 0; i < options.label_values.size(); ++i) {
    if (!given.emplace(options.label_values[i], i).second) {
      return FileError(path, "label_values lists '", options.label_values[i],
                       "' twice");
    }
  }
  return given;
}

// The columns as the first record fixes them.
struct CsvColumns {
  std::vector<std::string> names;
  std::string width_source;  // What fixed the number of fields, for errors.
  size_t label = 0;
  std::vector<bool> skip;  // Per column: the label or an ignored column.
  size_t feature_count = 0;
};

absl::StatusOr<CsvColumns> ReadColumns(const std::string& path,
                                       const CsvOptions& options,
                                       const CsvRecord& first) {
  CsvColumns columns;
  for (size_t i = 0; i < first.fields.size(); ++i) {
    columns.names.push_back(
        options.has_header
            ? std::string(absl::StripAsciiWhitespace(first.fields[i]))
            : absl::StrCat(i));
  }
  columns.width_source =
      options.has_header ? "header" : absl::StrCat("line ", first.line);
  const auto it = std::find(columns.names.begin(), columns.names.end(),
                            options.label_column);
  if (it == columns.names.end()) {
    return FileError(path, "no label column '", options.label_column,
                     "' among the ", columns.names.size(), " columns of ",
                     columns.width_source);
  }
  columns.label = it - columns.names.begin();
  columns.skip.assign(columns.names.size(), false);
  columns.skip[columns.label] = true;
  for (size_t i = 0; i < columns.names.size(); ++i) {
    if (std::find(options.ignore_columns.begin(), options.ignore_columns.end(),
                  columns.names[i]) != options.ignore_columns.end()) {
      columns.skip[i] = true;
    }
  }
  columns.feature_count =
      std::count(columns.skip.begin(), columns.skip.end(), false);
  if (columns.feature_count == 0) return FileError(path, "no feature columns");
  return columns;
}

// What the records read so far hold.
struct CsvRows {
  std::vector<float> features;
  std::vector<std::string> label_texts;
};

// Appends one data record's features and label text to `rows`.
absl::Status ReadDataRecord(const std::string& path, const CsvColumns& columns,
                            const ClassIndex& given_classes,
                            const CsvRecord& record, CsvRows& rows) {
  const std::vector<std::string>& fields = record.fields;
  if (fields.size() != columns.names.size()) {
    return FileError(path, "line ", record.line, " has ", fields.size(),
                     " fields, ", columns.width_source, " has ",
                     columns.names.size());
  }
  for (size_t c = 0; c < fields.size(); ++c) {
    if (columns.skip[c]) continue;
    const absl::string_view cell = absl::StripAsciiWhitespace(fields[c]);
    const std::optional<double> value = ParseDouble(cell);
    if (!value.has_value()) {
      return FileError(path, "line ", record.line, ", column '",
                       columns.names[c], "': ", Excerpt(cell),
                       " is not a number");
    }
    if (!std::isfinite(static_cast<float>(*value))) {
      return FileError(path, "line ", record.line, ", column '",
                       columns.names[c], "': ", Excerpt(cell),
                       " is not a finite float");
    }
    rows.features.push_back(static_cast<float>(*value));
  }
  const absl::string_view label =
      absl::StripAsciiWhitespace(fields[columns.label]);
  if (!given_classes.empty() &&
      given_classes.find(label) == given_classes.end()) {
    return FileError(path, "unknown label value ", Excerpt(label), " at line ",
                     record.line);
  }
  rows.label_texts.emplace_back(label);
  return absl::OkStatus();
}

Dataset AssembleDataset(const CsvOptions& options, size_t feature_count,
                        CsvRows rows) {
  Dataset out;
  out.sample_shape = {static_cast<int64_t>(feature_count)};
  out.features = std::move(rows.features);
  out.class_names = options.label_values.empty()
                        ? SortedDistinct(rows.label_texts)
                        : options.label_values;
  out.num_classes = static_cast<int32_t>(out.class_names.size());
  ClassIndex class_index;
  for (size_t i = 0; i < out.class_names.size(); ++i) {
    class_index.emplace(out.class_names[i], i);
  }
  out.labels.reserve(rows.label_texts.size());
  for (const std::string& label : rows.label_texts) {
    out.labels.push_back(class_index.at(label));
  }
  return out;
}

}  // namespace

absl::StatusOr<Dataset> LoadCsvDataset(const std::string& path,
                                       const CsvOptions& options) {
  ASSIGN_OR_RETURN(const ClassIndex given_classes, GivenClasses(path, options));
  CsvColumns columns;
  CsvRows rows;
  auto visit = [&](const CsvRecord& record) -> absl::Status {
    if (columns.names.empty()) {  // The first record fixes the columns.
      ASSIGN_OR_RETURN(columns, ReadColumns(path, options, record));
      if (options.has_header) return absl::OkStatus();
    }
    return ReadDataRecord(path, columns, given_classes, record, rows);
  };
  RETURN_IF_ERROR(ParseCsvFile(path, options.delimiter, visit));
  if (columns.names.empty()) return FileError(path, "file is empty");
  if (rows.label_texts.empty()) return FileError(path, "no data rows");
  return AssembleDataset(options, columns.feature_count, std::move(rows));
}

}  // namespace fedlearn
