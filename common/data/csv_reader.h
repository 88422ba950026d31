// Schema-less loader for tabular datasets stored as delimited text (CSV):
// every column except the label is a numeric feature, in file order. Kept for
// simulations and examples that own their data. A federated run over sites'
// own exports should load with LoadTable (table_loader.h) against a declared
// TableSchema instead: without label_values, this loader infers the classes
// by sorting the distinct labels of the one file it reads, so two files can
// disagree on what class 0 means.
//
// Guarantees: every non-label cell is a finite number; every record has as
// many fields as the header (or the first record); labels map to dense class
// indices [0, num_classes) with class_names[i] the label text of class i.
// Parsing is RFC 4180 (csv_parser.h): quoted fields, doubled quotes, embedded
// delimiters and line breaks, LF or CRLF, a UTF-8 BOM; blank lines are
// skipped. Fields are trimmed of surrounding whitespace. Every error names
// the file and, where there is one, the line (1-based, counting the header)
// and column; file-supplied text in messages is escaped and truncated.
#ifndef FEDLEARN_COMMON_DATA_CSV_READER_H_
#define FEDLEARN_COMMON_DATA_CSV_READER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace fedlearn {

struct CsvOptions {
  // The label column's name, or its 0-based index (as a string) when
  // has_header is false.
  std::string label_column = "label";
  bool has_header = true;
  char delimiter = ',';
  // If non-empty, the allowed label values in class-index order; any other
  // value is an error. If empty, the distinct values found, sorted
  // numerically when all are numbers and lexicographically otherwise.
  std::vector<std::string> label_values;
  // Header names (or indices, without a header) of columns to skip.
  std::vector<std::string> ignore_columns;
};

// Loads `path`; sample_shape is {number of feature columns}.
// A missing file yields NotFound; malformed content InvalidArgument.
absl::StatusOr<Dataset> LoadCsvDataset(const std::string& path,
                                       const CsvOptions& options);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_CSV_READER_H_
