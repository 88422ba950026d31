// How the run's TableSchema maps onto one site file's header: which schema
// columns this file must hold, where each sits in the file, and where its
// values go in the encoded row. Internal to LoadTable (table_loader.h); not
// an API of its own.
//
// Guarantees: PlanColumns lists the label first (unless label_optional and
// the header lacks it), then the features in schema order with their
// encoded offsets. MatchHeader finds every planned column by exact name
// after trimming and reports, without deciding anything, each mismatch
// between the header, the plan and ignore_columns; the message text is
// table_load_errors.h's job. NoteBadValue keeps at most kMaxListedValues
// distinct undeclared values per column, each cut to kMaxValueKeyBytes.
//
// Assumes a schema that passed TableSchema::Validate(). Thread-safety:
// plain values and reentrant functions; nothing is shared.
#ifndef FEDLEARN_COMMON_DATA_TABLE_COLUMN_PLAN_H_
#define FEDLEARN_COMMON_DATA_TABLE_COLUMN_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/data/csv_parser.h"
#include "common/data/table_schema.h"

namespace fedlearn {
namespace table_internal {

// Distinct undeclared values kept per column, and the bytes of each kept.
constexpr size_t kMaxListedValues = 10;
constexpr size_t kMaxValueKeyBytes = 256;

// Header names and cell values compare after this (table_schema.h).
absl::string_view Trimmed(absl::string_view s);

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

  // Encoded positions this feature fills: 1, or one per category.
  int64_t EncodedWidth() const {
    return type == FeatureColumn::Type::kNumeric
               ? 1
               : static_cast<int64_t>(declared.size());
  }
};

// The schema's columns this file must hold: the label (unless
// `label_optional` and `header` lacks it), then every feature.
std::vector<ColumnPlan> PlanColumns(const TableSchema& schema,
                                    const CsvRecord& header,
                                    bool label_optional);

// What disagrees between the header, the plan and ignore_columns. Names are
// trimmed; `extra` is in file order.
struct HeaderMismatch {
  std::vector<std::string> contradictory;  // Ignored, yet planned.
  std::vector<std::string> absent;         // Planned, not in the header.
  std::vector<std::string> twice;          // Planned, in the header twice.
  std::vector<std::string> extra;          // In the header, neither planned nor
                                           // ignored.
  bool unnamed_extra = false;              // `extra` holds "".

  bool empty() const {
    return contradictory.empty() && absent.empty() && twice.empty() &&
           extra.empty();
  }
};

// Sets each plan's file_index where the header names it exactly once.
HeaderMismatch MatchHeader(const CsvRecord& header,
                           const std::vector<std::string>& ignore_columns,
                           std::vector<ColumnPlan>& plans);

// Records `value` (trimmed, not declared) seen at `line` in `plan`'s column.
void NoteBadValue(ColumnPlan& plan, absl::string_view value, size_t line);

}  // namespace table_internal
}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_TABLE_COLUMN_PLAN_H_
