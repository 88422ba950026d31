// The text of LoadTable's refusals (table_loader.h) that list many things at
// once: a header that does not match the schema, undeclared label or
// category values, and missing cells the policy does not allow. Internal to
// LoadTable; not an API of its own. Callers prefix the file name.
//
// Guarantees: every message is bounded whatever the file holds (at most
// kMaxListedNames names per list unless a caller asks for more, the listed
// values and cells the plan kept), file-supplied text is escaped and
// truncated (QuotedExcerpt), and each message says which setting would
// change the outcome. Thread-safety: reentrant; nothing is shared.
#ifndef FEDLEARN_COMMON_DATA_TABLE_LOAD_ERRORS_H_
#define FEDLEARN_COMMON_DATA_TABLE_LOAD_ERRORS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/data/csv_parser.h"
#include "common/data/table_column_plan.h"
#include "common/data/table_schema.h"

namespace fedlearn {
namespace table_internal {

// Bounds on what one message lists, so a file full of bad cells still
// yields a readable message.
constexpr size_t kMaxListedCells = 5;   // missing cells
constexpr size_t kMaxListedNames = 20;  // declared values, header columns

// "a", "b", ... and N more.
std::string QuotedList(const std::vector<std::string>& items,
                       size_t max_items = kMaxListedNames);

// "1 row", "2 rows".
std::string Plural(size_t n, absl::string_view one, absl::string_view many);

// REQUIRES: !mismatch.empty(). `header` is the record MatchHeader saw.
std::string HeaderMismatchMessage(const HeaderMismatch& mismatch,
                                  const CsvRecord& header);

// The undeclared values every plan noted (NoteBadValue), or "" if none.
std::string BadValuesMessage(const std::vector<ColumnPlan>& plans,
                             LabelMatch label_match);

// A missing cell that fails the load.
struct MissingCell {
  size_t line;
  size_t plan;  // Index into the plans.
};

// REQUIRES: count > 0 and count >= listed.size(); schema.missing is kError
// (any missing cell) or kImputeMean (missing labels). `listed` holds the
// first few of the `count` cells.
std::string MissingCellsMessage(const TableSchema& schema,
                                const std::vector<ColumnPlan>& plans,
                                const std::vector<MissingCell>& listed,
                                size_t count);

}  // namespace table_internal
}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_TABLE_LOAD_ERRORS_H_
