// RFC 4180 delimited-text parsing on Robert Gamble's libcsv (Debian's
// libcsv-dev), streamed record by record so a large export never has to sit
// in memory as text.
//
// Guarantees: quoted fields may hold the delimiter, doubled quotes ("" -> ")
// and line breaks; records may end in LF or CRLF (and the last may have no
// line break); a UTF-8 byte-order mark before the first record is dropped;
// blank lines (empty or spaces/tabs only) are skipped. Unquoted fields lose
// surrounding spaces and tabs (libcsv's rule); quoted fields are passed on
// verbatim, so callers that compare text trim again. Each record carries the
// 1-based physical line on which it starts (lines are counted by LF).
//
// Refuses (InvalidArgument, naming the source and the line): a quote inside
// an unquoted field or text after a closing quote (strict RFC 4180), and a
// quoted field still open at end of input. A file that cannot be opened
// yields the errno-derived status (NotFound for a missing file).
//
// Thread-safety: the functions are reentrant; nothing is shared.
#ifndef FEDLEARN_COMMON_DATA_CSV_PARSER_H_
#define FEDLEARN_COMMON_DATA_CSV_PARSER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fedlearn {

struct CsvRecord {
  size_t line = 0;  // 1-based line on which the record starts.
  std::vector<std::string> fields;
};

// A visitor returns OkStatus to go on; any other status stops the parse and
// is returned as is.
using CsvRecordVisitor = absl::FunctionRef<absl::Status(const CsvRecord&)>;

// OK for ',', ';', '\t', '|' and any other byte except the quote, CR, LF,
// space and NUL, which cannot separate fields unambiguously.
absl::Status ValidateCsvDelimiter(char delimiter);

// Parses the file at `path`; messages name it.
absl::Status ParseCsvFile(const std::string& path, char delimiter,
                          CsvRecordVisitor visit);

// Parses `text`; messages name `source_name`.
absl::Status ParseCsvText(absl::string_view text, absl::string_view source_name,
                          char delimiter, CsvRecordVisitor visit);

// `text` (a file-supplied string) fit for an error message or a log line:
// C-escaped, cut to its first `max_bytes` bytes with the full size noted, and
// surrounded by double quotes. `"a\"b"`, `"0123...(1048576 bytes)"`.
std::string QuotedExcerpt(absl::string_view text, size_t max_bytes = 48);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DATA_CSV_PARSER_H_
