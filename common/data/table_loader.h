// Loads one site's CSV export against the run's declared TableSchema
// (table_schema.h), so that every site encodes the same columns in the same
// order and maps the same label text to the same class index.
//
// Guarantees on success: the Dataset's sample_shape is {EncodedWidth()};
// features follow the schema's order (each categorical column one-hot
// expanded in its declared category order); labels are the schema's class
// indices; num_classes == classes.size() and class_names == classes (trimmed)
// whatever this site holds, so a site with a single class loads fine. Columns
// are found by header name, in any order in the file. Every numeric cell is a
// finite float (a leading '+' is accepted; decimal commas are not).
//
// Refuses (InvalidArgument, the message names the file, and file-supplied
// text is escaped and truncated): an invalid schema; schema columns absent
// from the header (all listed); header columns neither in the schema nor in
// ignore_columns (all listed); a column named twice; a record whose field
// count differs from the header's; label or category values not declared
// (each distinct value with its count and first line, and a hint when it
// matches a declared value ignoring case); a non-numeric or non-finite
// numeric cell (line, column); missing cells under MissingValuePolicy::kError
// (the first few, and counts per column) and missing labels under
// kImputeMean; a column with no values to impute from; no usable rows.
// Parse errors and an unopenable file are reported as by csv_parser.h.
//
// Standardisation is not done here: fit a FeatureStandardizer on the result
// with TableSchema::NumericPositions(), save it, and apply the saved one at
// inference. Group attribute: see SiteTableOptions::group_column.
// Thread-safety: reentrant.
#ifndef FEDLEARN_COMMON_DATA_TABLE_LOADER_H_
#define FEDLEARN_COMMON_DATA_TABLE_LOADER_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/data/table_schema.h"

namespace fedlearn {

// How this site's file is laid out. Site-local: never leaves the site and is
// not part of the run's contract.
struct SiteTableOptions {
  std::string path;
  char delimiter = ',';  // ',', ';', '\t', '|', ...
  // Header names (matched exactly after trimming) to skip, such as patient
  // IDs or dates; "" skips an unnamed column (a row index pandas wrote). A
  // name the schema requires may not be ignored.
  std::vector<std::string> ignore_columns;
  // Inference on new records: a file without the label column loads, every
  // row with label 0 (TableLoadReport::labelled says which happened).
  bool label_optional = false;
  // Federated evaluation's group attribute (the contract's EvaluationSpec
  // group_column and groups). When set, Dataset::groups holds each row's
  // group index: the position in `groups` of its trimmed cell, compared as
  // labels are (the schema's label_match), or -1 for a missing cell, an
  // undeclared value, or a file without the column (never a load error).
  // The column may be a feature, the label, or neither (then it is read,
  // not encoded, and need not be in ignore_columns). Empty: no groups.
  std::string group_column;
  std::vector<std::string> groups;
};

struct TableLoadReport {
  size_t rows_read = 0;     // Data records in the file (header excluded).
  size_t rows_used = 0;     // Rows in the returned Dataset.
  size_t rows_dropped = 0;  // Dropped for missing cells (kDropRow).
  size_t cells_imputed = 0;
  // Missing cells per schema column (label included), over every row read.
  std::map<std::string, size_t> missing_by_column;
  // Rows used per class, indexed like TableSchema::classes.
  std::vector<size_t> class_counts;
  bool labelled = true;  // false: label_optional and no label column

  // One line for the log: "569 rows read, 560 used, 9 dropped, 0 cells
  // imputed; missing: age 9; classes: malignant 212, benign 348".
  std::string Summary(const TableSchema& schema) const;
};

// `report` may be null; it is written only on success.
absl::StatusOr<Dataset> LoadTable(const TableSchema& schema,
                                  const SiteTableOptions& options,
                                  TableLoadReport* report);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_TABLE_LOADER_H_
