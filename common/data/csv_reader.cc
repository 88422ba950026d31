#include "common/data/csv_reader.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace fedlearn {
namespace {

using ClassIndex = std::map<std::string, int32_t, std::less<>>;

std::vector<absl::string_view> SplitFields(absl::string_view line, char delim) {
  std::vector<absl::string_view> fields = absl::StrSplit(line, delim);
  for (absl::string_view& f : fields) f = absl::StripAsciiWhitespace(f);
  return fields;
}

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

  errno = 0;
  std::ifstream in(path);
  if (!in) {
    const std::string what = absl::StrCat("cannot open CSV file ", path);
    return errno != 0 ? absl::ErrnoToStatus(errno, what)
                      : absl::InternalError(what);
  }

  std::vector<std::string> column_names;
  std::string width_source;  // What fixed the number of fields, for errors.
  size_t label_col = 0;
  std::vector<float> features;
  std::vector<std::string> label_texts;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const std::vector<absl::string_view> fields =
        SplitFields(line, options.delimiter);

    if (column_names.empty()) {  // First non-blank line fixes the columns.
      for (size_t i = 0; i < fields.size(); ++i) {
        column_names.push_back(options.has_header ? std::string(fields[i])
                                                  : absl::StrCat(i));
      }
      width_source =
          options.has_header ? "header" : absl::StrCat("line ", line_no);
      const auto it = std::find(column_names.begin(), column_names.end(),
                                options.label_column);
      if (it == column_names.end()) {
        return error("no label column '", options.label_column, "' among the ",
                     column_names.size(), " columns of ", width_source);
      }
      label_col = it - column_names.begin();
      if (column_names.size() < 2) return error("no feature columns");
      if (options.has_header) continue;
    }

    if (fields.size() != column_names.size()) {
      return error("line ", line_no, " has ", fields.size(), " fields, ",
                   width_source, " has ", column_names.size());
    }
    for (size_t c = 0; c < fields.size(); ++c) {
      if (c == label_col) continue;
      const std::optional<double> value = ParseDouble(fields[c]);
      if (!value.has_value()) {
        return error("line ", line_no, ", column '", column_names[c], "': '",
                     fields[c], "' is not a number");
      }
      if (!std::isfinite(static_cast<float>(*value))) {
        return error("line ", line_no, ", column '", column_names[c], "': '",
                     fields[c], "' is not a finite float");
      }
      features.push_back(static_cast<float>(*value));
    }
    const absl::string_view label = fields[label_col];
    if (!given_classes.empty() &&
        given_classes.find(label) == given_classes.end()) {
      return error("unknown label value '", label, "' at line ", line_no);
    }
    label_texts.emplace_back(label);
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  if (column_names.empty()) return error("file is empty");
  if (label_texts.empty()) return error("no data rows");

  Dataset out;
  out.sample_shape = {static_cast<int64_t>(column_names.size() - 1)};
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

FeatureStandardizer FeatureStandardizer::Fit(const Dataset& data) {
  const size_t numel = data.SampleNumel();
  const size_t n = data.size();
  FeatureStandardizer out;
  out.mean.assign(numel, 0.0f);
  out.stddev.assign(numel, 1.0f);
  if (n == 0) return out;
  std::vector<double> sum(numel, 0.0);
  for (size_t i = 0; i < n * numel; ++i) sum[i % numel] += data.features[i];
  std::vector<double> squares(numel, 0.0);
  for (size_t i = 0; i < n * numel; ++i) {
    const double d = data.features[i] - sum[i % numel] / n;
    squares[i % numel] += d * d;
  }
  for (size_t j = 0; j < numel; ++j) {
    out.mean[j] = static_cast<float>(sum[j] / n);
    const double sd = std::sqrt(squares[j] / n);
    if (sd > 0) out.stddev[j] = static_cast<float>(sd);
  }
  return out;
}

void FeatureStandardizer::Apply(Dataset* data) const {
  const size_t numel = mean.size();
  for (size_t i = 0; i < data->features.size(); ++i) {
    data->features[i] =
        (data->features[i] - mean[i % numel]) / stddev[i % numel];
  }
}

}  // namespace fedlearn
