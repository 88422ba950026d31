#include "common/data/table_load_errors.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fedlearn {
namespace table_internal {
namespace {

// One undeclared value with its count, first line and a case hint.
std::string BadValueItem(const ColumnPlan& plan, const std::string& value,
                         LabelMatch label_match, bool& case_hint) {
  const BadValue& bad = plan.bad_values.at(value);
  std::string item = absl::StrCat(
      bad.shown, " (", Plural(bad.rows, "row", "rows"),
      bad.rows == 1 ? ", line " : ", first at line ", bad.first_line);
  if (label_match == LabelMatch::kExact) {
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
  return item;
}

}  // namespace

std::string QuotedList(const std::vector<std::string>& items,
                       size_t max_items) {
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

std::string HeaderMismatchMessage(const HeaderMismatch& mismatch,
                                  const CsvRecord& header) {
  std::vector<std::string> problems;
  const std::vector<std::string>& contradictory = mismatch.contradictory;
  if (!contradictory.empty()) {
    problems.push_back(absl::StrCat(
        "ignore_columns lists ", QuotedList(contradictory),
        ", which the run's schema requires; remove ",
        contradictory.size() == 1 ? "it" : "them", " from ignore_columns"));
  }
  const std::vector<std::string>& absent = mismatch.absent;
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
  if (!mismatch.twice.empty()) {
    problems.push_back(absl::StrCat(
        "the header names ", QuotedList(mismatch.twice), " more than once"));
  }
  const std::vector<std::string>& extra = mismatch.extra;
  if (!extra.empty()) {
    problems.push_back(absl::StrCat(
        "the header has ", extra.size() == 1 ? "column " : "columns ",
        QuotedList(extra, 1000),
        " that the run's schema does not declare; add ",
        extra.size() == 1 ? "it" : "them",
        " to this site's ignore_columns to skip ",
        extra.size() == 1 ? "it" : "them",
        mismatch.unnamed_extra ? " (\"\" names an unnamed column)" : ""));
  }
  return absl::StrJoin(problems, "; ");
}

std::string BadValuesMessage(const std::vector<ColumnPlan>& plans,
                             LabelMatch label_match) {
  std::vector<std::string> parts;
  bool case_hint = false;
  for (const ColumnPlan& plan : plans) {
    if (plan.bad_order.empty()) continue;
    std::vector<std::string> listed;
    for (const std::string& value : plan.bad_order) {
      listed.push_back(BadValueItem(plan, value, label_match, case_hint));
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

std::string MissingCellsMessage(const TableSchema& schema,
                                const std::vector<ColumnPlan>& plans,
                                const std::vector<MissingCell>& listed,
                                size_t count) {
  std::vector<std::string> cells;
  for (const MissingCell& cell : listed) {
    cells.push_back(absl::StrCat("line ", cell.line, " column ",
                                 QuotedExcerpt(plans[cell.plan].name)));
  }
  if (count > listed.size()) {
    cells.push_back(absl::StrCat(count - listed.size(), " more"));
  }
  const std::string what = absl::StrCat(
      "(empty, or one of ", QuotedList(schema.missing_markers), ")");
  if (schema.missing != MissingValuePolicy::kError) {
    return absl::StrCat(
        Plural(count, "row has", "rows have"), " a missing label ", what, ": ",
        absl::StrJoin(cells, ", "),
        "; labels are never imputed: fill them, or the run's schema can set "
        "missing = \"drop-row\"");
  }
  std::vector<std::string> per_column;
  for (const ColumnPlan& plan : plans) {
    if (plan.missing > 0) {
      per_column.push_back(
          absl::StrCat(QuotedExcerpt(plan.name), " ", plan.missing));
    }
  }
  return absl::StrCat(
      Plural(count, "missing cell ", "missing cells "), what,
      " and the run's missing-value policy is \"error\": ",
      absl::StrJoin(cells, ", "),
      "; per column: ", absl::StrJoin(per_column, ", "),
      "; fill them, or the run's schema can set missing = \"drop-row\" or "
      "\"impute-mean\"");
}

}  // namespace table_internal
}  // namespace fedlearn
