#include "common/data/table_loader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/data/csv_parser.h"

namespace fedlearn {
namespace {

// Bounds on what one error message lists, so a file full of bad cells still
// yields a readable message.
constexpr size_t kMaxListedValues = 10;  // distinct bad values per column
constexpr size_t kMaxListedCells = 5;    // missing cells
constexpr size_t kMaxListedNames = 20;   // declared values, header columns
constexpr size_t kMaxValueKeyBytes = 256;

absl::string_view Trimmed(absl::string_view s) {
  return absl::StripAsciiWhitespace(s);
}

// "a", "b", ... and N more.
std::string QuotedList(const std::vector<std::string>& items,
                       size_t max_items = kMaxListedNames) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < max_items; ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", QuotedExcerpt(items[i]));
  }
  if (items.size() > max_items) {
    absl::StrAppend(&out, " and ", items.size() - max_items, " more");
  }
  return out;
}

std::string Plural(size_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// The whole of `text` (already trimmed) as a double; a leading '+' is
// accepted. Overflow counts as a number (+-inf; callers check finiteness).
std::optional<double> ParseNumber(absl::string_view text) {
  if (!text.empty() && text[0] == '+') {
    text.remove_prefix(1);
    if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
      return std::nullopt;
    }
  }
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ptr != end || ec == std::errc::invalid_argument) return std::nullopt;
  if (ec == std::errc::result_out_of_range) return HUGE_VAL;
  return value;
}

struct BadValue {
  size_t rows = 0;
  size_t first_line = 0;
  std::string shown;  // QuotedExcerpt of the full value.
};

// One schema column as found in this file.
struct ColumnPlan {
  std::string name;  // Trimmed schema name.
  bool is_label = false;
  FeatureColumn::Type type = FeatureColumn::Type::kNumeric;
  size_t file_index = 0;
  int64_t offset = 0;  // First encoded position (features only).
  // Labels and categories: ValueKey -> index, and the declared spellings.
  std::map<std::string, int32_t> index;
  std::vector<std::string> declared;
  // Undeclared values seen, at most kMaxListedValues distinct ones.
  std::map<std::string, BadValue> bad_values;
  std::vector<std::string> bad_order;  // First-seen order of bad_values.
  size_t unlisted_bad_rows = 0;
  // Rows kept with this cell present (imputation denominator).
  size_t present_in_kept = 0;
  size_t missing = 0;
};

struct MissingCell {
  size_t line;
  size_t plan;
};

class TableLoader {
 public:
  TableLoader(const TableSchema& schema, const SiteTableOptions& options)
      : schema_(schema), options_(options), width_(schema.EncodedWidth()) {}

  absl::Status Visit(const CsvRecord& record) {
    if (!have_header_) {
      have_header_ = true;
      return ReadHeader(record);
    }
    return ReadRow(record);
  }

  absl::StatusOr<Dataset> Finish(TableLoadReport* report);

 private:
  template <typename... Parts>
  absl::Status Error(const Parts&... parts) const {
    return absl::InvalidArgumentError(
        absl::StrCat(options_.path, ": ", parts...));
  }

  absl::Status ReadHeader(const CsvRecord& header);
  absl::Status ReadRow(const CsvRecord& row);
  void NoteBadValue(ColumnPlan& plan, absl::string_view value, size_t line);
  std::string BadValuesMessage() const;

  const TableSchema& schema_;
  const SiteTableOptions& options_;
  const int64_t width_;
  bool have_header_ = false;
  size_t header_width_ = 0;
  std::vector<ColumnPlan> plans_;  // Label first, then features in order.

  size_t rows_read_ = 0;
  size_t rows_dropped_ = 0;
  std::vector<float> features_;
  std::vector<int32_t> labels_;
  std::vector<double> present_sum_;  // Per encoded position, kept rows.
  std::vector<std::pair<size_t, size_t>> to_impute_;  // (kept row, plan)
  // Missing cells that fail the load (kError; labels under kImputeMean).
  std::vector<MissingCell> fatal_missing_;
  size_t fatal_missing_count_ = 0;
  std::vector<float> row_;  // Scratch: the row being encoded.
};

absl::Status TableLoader::ReadHeader(const CsvRecord& header) {
  header_width_ = header.fields.size();
  std::map<absl::string_view, std::vector<size_t>> positions;
  for (size_t i = 0; i < header.fields.size(); ++i) {
    positions[Trimmed(header.fields[i])].push_back(i);
  }
  std::set<absl::string_view> ignored;
  for (const std::string& name : options_.ignore_columns) {
    ignored.insert(Trimmed(name));
  }

  auto add_plan = [&](absl::string_view name, bool is_label,
                      FeatureColumn::Type type,
                      const std::vector<std::string>& values, int64_t offset) {
    ColumnPlan plan;
    plan.name = std::string(name);
    plan.is_label = is_label;
    plan.type = type;
    plan.offset = offset;
    for (size_t i = 0; i < values.size(); ++i) {
      plan.index.emplace(schema_.ValueKey(values[i]), static_cast<int32_t>(i));
      plan.declared.emplace_back(Trimmed(values[i]));
    }
    plans_.push_back(std::move(plan));
  };
  const bool label_in_file = positions.count(Trimmed(schema_.label_column)) > 0;
  if (label_in_file || !options_.label_optional) {
    add_plan(Trimmed(schema_.label_column), true,
             FeatureColumn::Type::kCategorical, schema_.classes, 0);
  }
  int64_t offset = 0;
  for (const FeatureColumn& f : schema_.features) {
    add_plan(Trimmed(f.name), false, f.type, f.categories, offset);
    offset += f.type == FeatureColumn::Type::kNumeric
                  ? 1
                  : static_cast<int64_t>(f.categories.size());
  }

  std::vector<std::string> problems;
  std::vector<std::string> absent, contradictory, twice;
  for (ColumnPlan& plan : plans_) {
    if (ignored.count(plan.name) > 0) contradictory.push_back(plan.name);
    const auto it = positions.find(plan.name);
    if (it == positions.end()) {
      absent.push_back(plan.name);
    } else if (it->second.size() > 1) {
      twice.push_back(plan.name);
    } else {
      plan.file_index = it->second[0];
    }
  }
  if (!contradictory.empty()) {
    problems.push_back(absl::StrCat(
        "ignore_columns lists ", QuotedList(contradictory),
        ", which the run's schema requires; remove ",
        contradictory.size() == 1 ? "it" : "them", " from ignore_columns"));
  }
  if (!absent.empty()) {
    std::vector<std::string> have;
    for (const std::string& f : header.fields) have.emplace_back(Trimmed(f));
    problems.push_back(absl::StrCat(
        "the header (line ", header.line, ") lacks ",
        absent.size() == 1 ? "column " : "columns ", QuotedList(absent, 1000),
        " that the run's schema requires (column names match exactly, "
        "including case; the header has ",
        QuotedList(have), ")"));
  }
  if (!twice.empty()) {
    problems.push_back(absl::StrCat("the header names ", QuotedList(twice),
                                    " more than once"));
  }
  std::vector<std::string> extra;
  bool unnamed_extra = false;
  std::set<absl::string_view> schema_names;
  for (const ColumnPlan& plan : plans_) schema_names.insert(plan.name);
  for (const auto& [name, where] : positions) {
    if (schema_names.count(name) == 0 && ignored.count(name) == 0) {
      extra.emplace_back(name);
      unnamed_extra |= name.empty();
    }
  }
  if (!extra.empty()) {
    // Report in file order.
    std::sort(extra.begin(), extra.end(),
              [&](const std::string& a, const std::string& b) {
                return positions[a][0] < positions[b][0];
              });
    problems.push_back(absl::StrCat(
        "the header has ", extra.size() == 1 ? "column " : "columns ",
        QuotedList(extra, 1000),
        " that the run's schema does not declare; add ",
        extra.size() == 1 ? "it" : "them",
        " to this site's ignore_columns to skip ",
        extra.size() == 1 ? "it" : "them",
        unnamed_extra ? " (\"\" names an unnamed column)" : ""));
  }
  if (!problems.empty()) return Error(absl::StrJoin(problems, "; "));
  present_sum_.assign(width_, 0.0);
  row_.assign(width_, 0.0f);
  return absl::OkStatus();
}

void TableLoader::NoteBadValue(ColumnPlan& plan, absl::string_view value,
                               size_t line) {
  std::string key(value.substr(0, kMaxValueKeyBytes));
  auto it = plan.bad_values.find(key);
  if (it == plan.bad_values.end()) {
    if (plan.bad_values.size() >= kMaxListedValues) {
      ++plan.unlisted_bad_rows;
      return;
    }
    plan.bad_order.push_back(key);
    it = plan.bad_values
             .emplace(std::move(key), BadValue{0, line, QuotedExcerpt(value)})
             .first;
  }
  ++it->second.rows;
}

absl::Status TableLoader::ReadRow(const CsvRecord& row) {
  ++rows_read_;
  if (row.fields.size() != header_width_) {
    return Error("line ", row.line, " has ", row.fields.size(),
                 " fields, the header has ", header_width_);
  }
  std::fill(row_.begin(), row_.end(), 0.0f);
  // Unlabelled records (label_optional, no label column) get class 0.
  int32_t label = plans_.empty() || !plans_[0].is_label ? 0 : -1;
  bool undeclared = false;
  bool label_missing = false;
  std::vector<size_t> missing_plans;
  for (size_t p = 0; p < plans_.size(); ++p) {
    ColumnPlan& plan = plans_[p];
    const std::string& cell = row.fields[plan.file_index];
    if (schema_.IsMissing(cell)) {
      ++plan.missing;
      missing_plans.push_back(p);
      label_missing |= plan.is_label;
      continue;
    }
    const absl::string_view text = Trimmed(cell);
    if (plan.type == FeatureColumn::Type::kNumeric) {
      const std::optional<double> value = ParseNumber(text);
      if (!value.has_value()) {
        const bool decimal_comma =
            options_.delimiter != ',' && text.find(',') != text.npos;
        return Error("line ", row.line, ", column ", QuotedExcerpt(plan.name),
                     ": ", QuotedExcerpt(text), " is not a number",
                     decimal_comma ? " (decimal commas are not supported; "
                                     "export with '.' as decimal separator)"
                                   : "");
      }
      const float f = static_cast<float>(*value);
      if (!std::isfinite(f)) {
        return Error("line ", row.line, ", column ", QuotedExcerpt(plan.name),
                     ": ", QuotedExcerpt(text), " is not a finite float");
      }
      row_[plan.offset] = f;
      continue;
    }
    const auto it = plan.index.find(schema_.ValueKey(text));
    if (it == plan.index.end()) {
      NoteBadValue(plan, text, row.line);
      undeclared = true;
    } else if (plan.is_label) {
      label = it->second;
    } else {
      row_[plan.offset + it->second] = 1.0f;
    }
  }
  if (undeclared) return absl::OkStatus();  // The load fails in Finish.
  if (!missing_plans.empty()) {
    const bool fatal =
        schema_.missing == MissingValuePolicy::kError ||
        (schema_.missing == MissingValuePolicy::kImputeMean && label_missing);
    if (fatal) {
      for (size_t p : missing_plans) {
        if (schema_.missing == MissingValuePolicy::kImputeMean &&
            !plans_[p].is_label) {
          continue;  // Only the label is fatal here.
        }
        ++fatal_missing_count_;
        if (fatal_missing_.size() < kMaxListedCells) {
          fatal_missing_.push_back({row.line, p});
        }
      }
      return absl::OkStatus();
    }
    if (schema_.missing == MissingValuePolicy::kDropRow) {
      ++rows_dropped_;
      return absl::OkStatus();
    }
  }
  // Keep the row.
  const size_t kept = labels_.size();
  size_t next_missing = 0;
  while (next_missing < missing_plans.size() &&
         missing_plans[next_missing] == 0) {
    ++next_missing;  // The label; a kept row always has one.
  }
  for (size_t p = 1; p < plans_.size(); ++p) {
    ColumnPlan& plan = plans_[p];
    if (next_missing < missing_plans.size() &&
        missing_plans[next_missing] == p) {
      ++next_missing;
      to_impute_.emplace_back(kept, p);
      continue;
    }
    ++plan.present_in_kept;
    const int64_t n = plan.type == FeatureColumn::Type::kNumeric
                          ? 1
                          : static_cast<int64_t>(plan.declared.size());
    for (int64_t j = plan.offset; j < plan.offset + n; ++j) {
      present_sum_[j] += row_[j];
    }
  }
  features_.insert(features_.end(), row_.begin(), row_.end());
  labels_.push_back(label);
  return absl::OkStatus();
}

std::string TableLoader::BadValuesMessage() const {
  std::vector<std::string> parts;
  bool case_hint = false;
  for (const ColumnPlan& plan : plans_) {
    if (plan.bad_order.empty()) continue;
    std::vector<std::string> listed;
    for (const std::string& value : plan.bad_order) {
      const BadValue& bad = plan.bad_values.at(value);
      std::string item = absl::StrCat(
          bad.shown, " (", Plural(bad.rows, "row", "rows"),
          bad.rows == 1 ? ", line " : ", first at line ", bad.first_line);
      if (schema_.label_match == LabelMatch::kExact) {
        for (const std::string& declared : plan.declared) {
          if (absl::EqualsIgnoreCase(declared, value)) {
            absl::StrAppend(&item, "; matches ", QuotedExcerpt(declared),
                            " ignoring case");
            case_hint = true;
            break;
          }
        }
      }
      item.push_back(')');
      listed.push_back(std::move(item));
    }
    if (plan.unlisted_bad_rows > 0) {
      listed.push_back(
          absl::StrCat(Plural(plan.unlisted_bad_rows, "more row", "more rows"),
                       " with other values"));
    }
    parts.push_back(absl::StrCat(plan.is_label ? "label column " : "column ",
                                 QuotedExcerpt(plan.name),
                                 " holds values that are not declared ",
                                 plan.is_label ? "classes: " : "categories: ",
                                 absl::StrJoin(listed, ", "), "; declared ",
                                 plan.is_label ? "classes: " : "categories: ",
                                 QuotedList(plan.declared)));
  }
  if (case_hint) {
    parts.push_back(
        "label_match = \"case-insensitive\" in the run's schema would accept "
        "the values that differ only in case");
  }
  return absl::StrJoin(parts, "; ");
}

absl::StatusOr<Dataset> TableLoader::Finish(TableLoadReport* report) {
  if (!have_header_) return Error("file is empty (no header line)");
  if (rows_read_ == 0) return Error("no data rows after the header");

  std::vector<std::string> problems;
  if (std::string bad = BadValuesMessage(); !bad.empty()) {
    problems.push_back(std::move(bad));
  }
  if (fatal_missing_count_ > 0) {
    std::vector<std::string> cells;
    for (const MissingCell& cell : fatal_missing_) {
      cells.push_back(absl::StrCat("line ", cell.line, " column ",
                                   QuotedExcerpt(plans_[cell.plan].name)));
    }
    if (fatal_missing_count_ > fatal_missing_.size()) {
      cells.push_back(
          absl::StrCat(fatal_missing_count_ - fatal_missing_.size(), " more"));
    }
    const std::string what = absl::StrCat(
        "(empty, or one of ", QuotedList(schema_.missing_markers), ")");
    if (schema_.missing == MissingValuePolicy::kError) {
      std::vector<std::string> per_column;
      for (const ColumnPlan& plan : plans_) {
        if (plan.missing > 0) {
          per_column.push_back(
              absl::StrCat(QuotedExcerpt(plan.name), " ", plan.missing));
        }
      }
      problems.push_back(absl::StrCat(
          Plural(fatal_missing_count_, "missing cell ", "missing cells "), what,
          " and the run's missing-value policy is \"error\": ",
          absl::StrJoin(cells, ", "),
          "; per column: ", absl::StrJoin(per_column, ", "),
          "; fill them, or the run's schema can set missing = \"drop-row\" or "
          "\"impute-mean\""));
    } else {
      problems.push_back(absl::StrCat(
          Plural(fatal_missing_count_, "row has", "rows have"),
          " a missing label ", what, ": ", absl::StrJoin(cells, ", "),
          "; labels are never imputed: fill them, or the run's schema can set "
          "missing = \"drop-row\""));
    }
  }
  if (!problems.empty()) return Error(absl::StrJoin(problems, "; "));
  if (labels_.empty()) {
    return Error("all ", rows_read_,
                 " data rows have a missing cell and missing = \"drop-row\" "
                 "dropped them all");
  }

  // Mean imputation from this site's own present values.
  size_t imputed = 0;
  for (const auto& [kept, p] : to_impute_) {
    const ColumnPlan& plan = plans_[p];
    if (plan.present_in_kept == 0) {
      return Error("column ", QuotedExcerpt(plan.name),
                   " has no values at all to impute its ", plan.missing,
                   " missing cells from (missing = \"impute-mean\")");
    }
    const int64_t n = plan.type == FeatureColumn::Type::kNumeric
                          ? 1
                          : static_cast<int64_t>(plan.declared.size());
    for (int64_t j = plan.offset; j < plan.offset + n; ++j) {
      features_[kept * width_ + j] =
          static_cast<float>(present_sum_[j] / plan.present_in_kept);
    }
    ++imputed;
  }

  Dataset out;
  out.sample_shape = {width_};
  out.features = std::move(features_);
  out.labels = std::move(labels_);
  out.num_classes = static_cast<int32_t>(schema_.classes.size());
  if (!plans_.empty() && plans_[0].is_label) {
    out.class_names = plans_[0].declared;
  } else {
    for (const std::string& c : schema_.classes) {
      out.class_names.emplace_back(Trimmed(c));
    }
  }
  if (report != nullptr) {
    *report = TableLoadReport{};
    report->rows_read = rows_read_;
    report->rows_used = out.labels.size();
    report->rows_dropped = rows_dropped_;
    report->cells_imputed = imputed;
    for (const ColumnPlan& plan : plans_) {
      if (plan.missing > 0) report->missing_by_column[plan.name] = plan.missing;
    }
    report->labelled = !plans_.empty() && plans_[0].is_label;
    report->class_counts.assign(schema_.classes.size(), 0);
    for (int32_t label : out.labels) ++report->class_counts[label];
  }
  return out;
}

}  // namespace

std::string TableLoadReport::Summary(const TableSchema& schema) const {
  std::string out =
      absl::StrCat(rows_read, " rows read, ", rows_used, " used, ",
                   rows_dropped, " dropped, ", cells_imputed, " cells imputed");
  if (!missing_by_column.empty()) {
    absl::StrAppend(&out, "; missing:");
    const char* separator = " ";
    for (const auto& [name, count] : missing_by_column) {
      absl::StrAppend(&out, separator, name, " ", count);
      separator = ", ";
    }
  }
  absl::StrAppend(&out, "; classes:");
  for (size_t i = 0; i < class_counts.size(); ++i) {
    const std::string name = i < schema.classes.size()
                                 ? std::string(Trimmed(schema.classes[i]))
                                 : absl::StrCat(i);
    absl::StrAppend(&out, i == 0 ? " " : ", ", name, " ", class_counts[i]);
  }
  return out;
}

absl::StatusOr<Dataset> LoadTable(const TableSchema& schema,
                                  const SiteTableOptions& options,
                                  TableLoadReport* report) {
  if (absl::Status s = schema.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.path, ": ", s.message()));
  }
  TableLoader loader(schema, options);
  if (absl::Status s = ParseCsvFile(
          options.path, options.delimiter,
          [&loader](const CsvRecord& record) { return loader.Visit(record); });
      !s.ok()) {
    return s;
  }
  return loader.Finish(report);
}

}  // namespace fedlearn
