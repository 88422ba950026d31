// ParseCsvText (common/data/csv_parser.h), the RFC 4180 parser under every
// site's table loader, on arbitrary text: the first byte picks the delimiter
// (valid or not). Records must carry non-decreasing line numbers, and
// QuotedExcerpt must bound any field it quotes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/data/csv_parser.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static constexpr char kDelimiters[] = {',', ';', '\t', '|',
                                         ',', ',', '"',  ' '};
  const char delimiter = kDelimiters[data[0] & 7];
  const absl::string_view text(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  size_t last_line = 0;
  const absl::Status status = fedlearn::ParseCsvText(
      text, "fuzz.csv", delimiter,
      [&](const fedlearn::CsvRecord& record) -> absl::Status {
        // Lines count LFs; a lone CR ends a record too, so two records may
        // start on one line, but never on an earlier one.
        fedlearn::fuzz::FuzzCheck(record.line >= 1 && record.line >= last_line,
                                  "record lines go backwards");
        last_line = record.line;
        for (const std::string& field : record.fields) {
          fedlearn::fuzz::FuzzCheck(
              fedlearn::QuotedExcerpt(field, 16).size() <= 4 * 16 + 40,
              "QuotedExcerpt does not bound its output");
        }
        return absl::OkStatus();
      });
  if (status.ok()) {
    fedlearn::fuzz::FuzzCheck(fedlearn::ValidateCsvDelimiter(delimiter).ok(),
                              "parsed with an invalid delimiter");
  }
  return 0;
}
