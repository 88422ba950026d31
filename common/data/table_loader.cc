#include "common/data/table_loader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/data/csv_parser.h"
#include "common/data/table_column_plan.h"
#include "common/data/table_load_errors.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

using table_internal::ColumnPlan;
using table_internal::HeaderMismatch;
using table_internal::kMaxListedCells;
using table_internal::MissingCell;
using table_internal::Trimmed;

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

// What one record's cells held, once encoded into the scratch row.
struct RowCells {
  int32_t label = 0;
  bool undeclared = false;  // A label or category value not declared.
  bool label_missing = false;
  std::vector<size_t> missing_plans;  // Ascending plan indices.
  int32_t group = -1;                 // SiteTableOptions::group_column
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
  // Finds the group column (if any) and declares its values.
  void PlanGroups(const CsvRecord& header);
  int32_t GroupOf(const CsvRecord& row) const;
  absl::Status ReadRow(const CsvRecord& row);
  // Parses every cell of `row` into row_, noting missing and undeclared
  // values; refuses a bad numeric cell.
  absl::StatusOr<RowCells> EncodeCells(const CsvRecord& row);
  absl::StatusOr<float> ParseNumericCell(const ColumnPlan& plan,
                                         absl::string_view text,
                                         size_t line) const;
  // Applies the missing-value policy to a row with missing cells: records
  // the cells that fail the load or counts the row as dropped, and returns
  // whether the row is kept (to be imputed).
  bool KeepDespiteMissing(const RowCells& cells, size_t line);
  // Appends row_ and the label, and counts what imputation will need.
  void KeepRow(const RowCells& cells);

  // The bad values and fatal missing cells of the whole file, if any.
  absl::Status CheckCells() const;
  // Fills every missing kept cell with its column's mean over the kept rows
  // that have it; returns the cells imputed.
  absl::StatusOr<size_t> ImputeMeans();
  Dataset TakeDataset();
  TableLoadReport MakeReport(const Dataset& out, size_t imputed) const;

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
  // The group column: its file index (npos: absent) and values.
  bool with_groups_ = false;
  size_t group_index_ = std::string::npos;
  std::map<std::string, int32_t> group_keys_;
  std::vector<int32_t> groups_;
};

void TableLoader::PlanGroups(const CsvRecord& header) {
  with_groups_ = !options_.group_column.empty();
  if (!with_groups_) return;
  const absl::string_view name = Trimmed(options_.group_column);
  for (size_t i = 0; i < header.fields.size(); ++i) {
    if (Trimmed(header.fields[i]) == name) {
      group_index_ = i;
      break;
    }
  }
  for (size_t g = 0; g < options_.groups.size(); ++g) {
    group_keys_.emplace(schema_.ValueKey(Trimmed(options_.groups[g])),
                        static_cast<int32_t>(g));
  }
}

int32_t TableLoader::GroupOf(const CsvRecord& row) const {
  if (group_index_ == std::string::npos) return -1;
  const std::string& cell = row.fields[group_index_];
  if (schema_.IsMissing(cell)) return -1;
  const auto it = group_keys_.find(schema_.ValueKey(Trimmed(cell)));
  return it == group_keys_.end() ? -1 : it->second;
}

absl::Status TableLoader::ReadHeader(const CsvRecord& header) {
  header_width_ = header.fields.size();
  plans_ =
      table_internal::PlanColumns(schema_, header, options_.label_optional);
  PlanGroups(header);
  // A group column outside the schema is read, not encoded: not "extra".
  std::vector<std::string> ignored = options_.ignore_columns;
  const bool group_planned =
      std::any_of(plans_.begin(), plans_.end(), [this](const ColumnPlan& plan) {
        return plan.name == Trimmed(options_.group_column);
      });
  if (with_groups_ && !group_planned) {
    ignored.emplace_back(Trimmed(options_.group_column));
  }
  const HeaderMismatch mismatch =
      table_internal::MatchHeader(header, ignored, plans_);
  if (!mismatch.empty()) {
    return Error(table_internal::HeaderMismatchMessage(mismatch, header));
  }
  present_sum_.assign(width_, 0.0);
  row_.assign(width_, 0.0f);
  return absl::OkStatus();
}

absl::Status TableLoader::ReadRow(const CsvRecord& row) {
  ++rows_read_;
  if (row.fields.size() != header_width_) {
    return Error("line ", row.line, " has ", row.fields.size(),
                 " fields, the header has ", header_width_);
  }
  ASSIGN_OR_RETURN(const RowCells cells, EncodeCells(row));
  if (cells.undeclared) return absl::OkStatus();  // The load fails in Finish.
  if (!cells.missing_plans.empty() && !KeepDespiteMissing(cells, row.line)) {
    return absl::OkStatus();
  }
  KeepRow(cells);
  return absl::OkStatus();
}

absl::StatusOr<RowCells> TableLoader::EncodeCells(const CsvRecord& row) {
  std::fill(row_.begin(), row_.end(), 0.0f);
  RowCells cells;
  if (with_groups_) cells.group = GroupOf(row);
  // Unlabelled records (label_optional, no label column) get class 0.
  cells.label = plans_.empty() || !plans_[0].is_label ? 0 : -1;
  for (size_t p = 0; p < plans_.size(); ++p) {
    ColumnPlan& plan = plans_[p];
    const std::string& cell = row.fields[plan.file_index];
    if (schema_.IsMissing(cell)) {
      ++plan.missing;
      cells.missing_plans.push_back(p);
      cells.label_missing |= plan.is_label;
      continue;
    }
    const absl::string_view text = Trimmed(cell);
    if (plan.type == FeatureColumn::Type::kNumeric) {
      ASSIGN_OR_RETURN(row_[plan.offset],
                       ParseNumericCell(plan, text, row.line));
      continue;
    }
    const auto it = plan.index.find(schema_.ValueKey(text));
    if (it == plan.index.end()) {
      table_internal::NoteBadValue(plan, text, row.line);
      cells.undeclared = true;
    } else if (plan.is_label) {
      cells.label = it->second;
    } else {
      row_[plan.offset + it->second] = 1.0f;
    }
  }
  return cells;
}

absl::StatusOr<float> TableLoader::ParseNumericCell(const ColumnPlan& plan,
                                                    absl::string_view text,
                                                    size_t line) const {
  const std::optional<double> value = ParseNumber(text);
  if (!value.has_value()) {
    const bool decimal_comma =
        options_.delimiter != ',' && text.find(',') != text.npos;
    return Error("line ", line, ", column ", QuotedExcerpt(plan.name), ": ",
                 QuotedExcerpt(text), " is not a number",
                 decimal_comma ? " (decimal commas are not supported; "
                                 "export with '.' as decimal separator)"
                               : "");
  }
  const float f = static_cast<float>(*value);
  if (!std::isfinite(f)) {
    return Error("line ", line, ", column ", QuotedExcerpt(plan.name), ": ",
                 QuotedExcerpt(text), " is not a finite float");
  }
  return f;
}

bool TableLoader::KeepDespiteMissing(const RowCells& cells, size_t line) {
  const MissingValuePolicy policy = schema_.missing;
  if (policy == MissingValuePolicy::kError ||
      (policy == MissingValuePolicy::kImputeMean && cells.label_missing)) {
    for (size_t p : cells.missing_plans) {
      if (policy == MissingValuePolicy::kImputeMean && !plans_[p].is_label) {
        continue;  // Only the label is fatal here.
      }
      ++fatal_missing_count_;
      if (fatal_missing_.size() < kMaxListedCells) {
        fatal_missing_.push_back({line, p});
      }
    }
    return false;
  }
  if (policy == MissingValuePolicy::kDropRow) {
    ++rows_dropped_;
    return false;
  }
  return true;
}

void TableLoader::KeepRow(const RowCells& cells) {
  const std::vector<size_t>& missing_plans = cells.missing_plans;
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
    for (int64_t j = plan.offset; j < plan.offset + plan.EncodedWidth(); ++j) {
      present_sum_[j] += row_[j];
    }
  }
  features_.insert(features_.end(), row_.begin(), row_.end());
  labels_.push_back(cells.label);
  if (with_groups_) groups_.push_back(cells.group);
}

absl::Status TableLoader::CheckCells() const {
  std::vector<std::string> problems;
  if (std::string bad =
          table_internal::BadValuesMessage(plans_, schema_.label_match);
      !bad.empty()) {
    problems.push_back(std::move(bad));
  }
  if (fatal_missing_count_ > 0) {
    problems.push_back(table_internal::MissingCellsMessage(
        schema_, plans_, fatal_missing_, fatal_missing_count_));
  }
  if (!problems.empty()) return Error(absl::StrJoin(problems, "; "));
  return absl::OkStatus();
}

absl::StatusOr<size_t> TableLoader::ImputeMeans() {
  // Mean imputation from this site's own present values.
  size_t imputed = 0;
  for (const auto& [kept, p] : to_impute_) {
    const ColumnPlan& plan = plans_[p];
    if (plan.present_in_kept == 0) {
      return Error("column ", QuotedExcerpt(plan.name),
                   " has no values at all to impute its ", plan.missing,
                   " missing cells from (missing = \"impute-mean\")");
    }
    for (int64_t j = plan.offset; j < plan.offset + plan.EncodedWidth(); ++j) {
      features_[kept * width_ + j] =
          static_cast<float>(present_sum_[j] / plan.present_in_kept);
    }
    ++imputed;
  }
  return imputed;
}

Dataset TableLoader::TakeDataset() {
  Dataset out;
  out.sample_shape = {width_};
  out.features = std::move(features_);
  out.labels = std::move(labels_);
  out.groups = std::move(groups_);
  out.num_classes = static_cast<int32_t>(schema_.classes.size());
  if (!plans_.empty() && plans_[0].is_label) {
    out.class_names = plans_[0].declared;
  } else {
    for (const std::string& c : schema_.classes) {
      out.class_names.emplace_back(Trimmed(c));
    }
  }
  return out;
}

TableLoadReport TableLoader::MakeReport(const Dataset& out,
                                        size_t imputed) const {
  TableLoadReport report;
  report.rows_read = rows_read_;
  report.rows_used = out.labels.size();
  report.rows_dropped = rows_dropped_;
  report.cells_imputed = imputed;
  for (const ColumnPlan& plan : plans_) {
    if (plan.missing > 0) report.missing_by_column[plan.name] = plan.missing;
  }
  report.labelled = !plans_.empty() && plans_[0].is_label;
  report.class_counts.assign(schema_.classes.size(), 0);
  for (int32_t label : out.labels) ++report.class_counts[label];
  return report;
}

absl::StatusOr<Dataset> TableLoader::Finish(TableLoadReport* report) {
  if (!have_header_) return Error("file is empty (no header line)");
  if (rows_read_ == 0) return Error("no data rows after the header");
  RETURN_IF_ERROR(CheckCells());
  if (labels_.empty()) {
    return Error("all ", rows_read_,
                 " data rows have a missing cell and missing = \"drop-row\" "
                 "dropped them all");
  }
  ASSIGN_OR_RETURN(const size_t imputed, ImputeMeans());
  Dataset out = TakeDataset();
  if (report != nullptr) *report = MakeReport(out, imputed);
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
    // The schema's own message, naming the file this load was for.
    return absl::InvalidArgumentError(
        absl::StrCat(options.path, ": ", s.message()));
  }
  TableLoader loader(schema, options);
  RETURN_IF_ERROR(ParseCsvFile(
      options.path, options.delimiter,
      [&loader](const CsvRecord& record) { return loader.Visit(record); }));
  return loader.Finish(report);
}

}  // namespace fedlearn
