#include "common/data/csv_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/data/csv_parser.h"

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

}  // namespace

absl::StatusOr<Dataset> LoadCsvDataset(const std::string& path,
                                       const CsvOptions& options) {
  auto error = [&path](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", parts...));
  };

  ClassIndex given_classes;
  for (size_t i = 0; i < options.label_values.size(); ++i) {
    if (!given_classes.emplace(options.label_values[i], i).second) {
      return error("label_values lists '", options.label_values[i], "' twice");
    }
  }

  std::vector<std::string> column_names;
  std::string width_source;  // What fixed the number of fields, for errors.
  size_t label_col = 0;
  std::vector<bool> skip;  // Per column: the label or an ignored column.
  size_t feature_count = 0;
  std::vector<float> features;
  std::vector<std::string> label_texts;
  const absl::Status parsed = ParseCsvFile(
      path, options.delimiter, [&](const CsvRecord& record) -> absl::Status {
        const std::vector<std::string>& fields = record.fields;
        if (column_names.empty()) {  // The first record fixes the columns.
          for (size_t i = 0; i < fields.size(); ++i) {
            column_names.push_back(
                options.has_header
                    ? std::string(absl::StripAsciiWhitespace(fields[i]))
                    : absl::StrCat(i));
          }
          width_source = options.has_header
                             ? "header"
                             : absl::StrCat("line ", record.line);
          const auto it = std::find(column_names.begin(), column_names.end(),
                                    options.label_column);
          if (it == column_names.end()) {
            return error("no label column '", options.label_column,
                         "' among the ", column_names.size(), " columns of ",
                         width_source);
          }
          label_col = it - column_names.begin();
          skip.assign(column_names.size(), false);
          skip[label_col] = true;
          for (size_t i = 0; i < column_names.size(); ++i) {
            if (std::find(options.ignore_columns.begin(),
                          options.ignore_columns.end(),
                          column_names[i]) != options.ignore_columns.end()) {
              skip[i] = true;
            }
          }
          feature_count = std::count(skip.begin(), skip.end(), false);
          if (feature_count == 0) return error("no feature columns");
          if (options.has_header) return absl::OkStatus();
        }

        if (fields.size() != column_names.size()) {
          return error("line ", record.line, " has ", fields.size(),
                       " fields, ", width_source, " has ", column_names.size());
        }
        for (size_t c = 0; c < fields.size(); ++c) {
          if (skip[c]) continue;
          const absl::string_view cell = absl::StripAsciiWhitespace(fields[c]);
          const std::optional<double> value = ParseDouble(cell);
          if (!value.has_value()) {
            return error("line ", record.line, ", column '", column_names[c],
                         "': ", Excerpt(cell), " is not a number");
          }
          if (!std::isfinite(static_cast<float>(*value))) {
            return error("line ", record.line, ", column '", column_names[c],
                         "': ", Excerpt(cell), " is not a finite float");
          }
          features.push_back(static_cast<float>(*value));
        }
        const absl::string_view label =
            absl::StripAsciiWhitespace(fields[label_col]);
        if (!given_classes.empty() &&
            given_classes.find(label) == given_classes.end()) {
          return error("unknown label value ", Excerpt(label), " at line ",
                       record.line);
        }
        label_texts.emplace_back(label);
        return absl::OkStatus();
      });
  if (!parsed.ok()) return parsed;
  if (column_names.empty()) return error("file is empty");
  if (label_texts.empty()) return error("no data rows");

  Dataset out;
  out.sample_shape = {static_cast<int64_t>(feature_count)};
  out.features = std::move(features);
  out.class_names = options.label_values.empty() ? SortedDistinct(label_texts)
                                                 : options.label_values;
  out.num_classes = static_cast<int32_t>(out.class_names.size());
  ClassIndex class_index;
  for (size_t i = 0; i < out.class_names.size(); ++i) {
    class_index.emplace(out.class_names[i], i);
  }
  out.labels.reserve(label_texts.size());
  for (const std::string& label : label_texts) {
    out.labels.push_back(class_index.at(label));
  }
  return out;
}

}  // namespace fedlearn
