#include "common/data/csv_parser.h"

#include <csv.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";

// libcsv parser states (csv.h keeps them private to libcsv.c; its struct
// exposes `pstate`). Only "no record begun" matters here.
constexpr int kRowNotBegun = 0;

// Drives one libcsv parser over input fed a physical line at a time, so that
// every callback knows the current line number.
class RecordAssembler {
 public:
  RecordAssembler(absl::string_view source, char delimiter,
                  CsvRecordVisitor visit)
      : source_(source), visit_(visit) {
    // CSV_STRICT: refuse stray quotes instead of guessing. CSV_STRICT_FINI:
    // an unterminated quoted field at the end is an error, not a field.
    csv_init(&parser_, CSV_STRICT | CSV_STRICT_FINI);
    csv_set_delim(&parser_, static_cast<unsigned char>(delimiter));
  }
  ~RecordAssembler() { csv_free(&parser_); }
  RecordAssembler(const RecordAssembler&) = delete;
  RecordAssembler& operator=(const RecordAssembler&) = delete;

  // `chunk` is one physical line including its LF (the last may lack one).
  absl::Status Feed(absl::string_view chunk) {
    ++line_;
    last_chunk_ended_in_lf_ = !chunk.empty() && chunk.back() == '\n';
    if (line_ == 1 && chunk.substr(0, kUtf8Bom.size()) == kUtf8Bom) {
      chunk.remove_prefix(kUtf8Bom.size());
    }
    if (parser_.pstate == kRowNotBegun) next_record_line_ = line_;
    const size_t used = csv_parse(&parser_, chunk.data(), chunk.size(),
                                  &OnField, &OnRecordEnd, this);
    if (!status_.ok()) return status_;
    if (used != chunk.size()) {
      if (csv_error(&parser_) == CSV_EPARSE) {
        return absl::InvalidArgumentError(absl::StrCat(
            source_, ": line ", line_,
            ": malformed quoting (a quote inside an unquoted field, or text "
            "after a closing quote); quote the whole field and double any "
            "quote inside it (RFC 4180)"));
      }
      return absl::ResourceExhaustedError(absl::StrCat(
          source_, ": line ", line_, ": ", csv_strerror(csv_error(&parser_))));
    }
    return absl::OkStatus();
  }

  absl::Status Finish() {
    // An open quoted field holds every line break since its opening quote.
    const bool open_quote = parser_.pstate != kRowNotBegun && parser_.quoted;
    const size_t breaks =
        open_quote ? std::count(parser_.entry_buf,
                                parser_.entry_buf + parser_.entry_pos, '\n')
                   : 0;
    if (csv_fini(&parser_, &OnField, &OnRecordEnd, this) != 0 || open_quote) {
      const size_t opened =
          line_ - breaks + (last_chunk_ended_in_lf_ && breaks > 0 ? 1 : 0);
      return absl::InvalidArgumentError(absl::StrCat(
          source_, ": line ", opened,
          ": quoted field is never closed (unterminated quote); every field "
          "that starts with a quote must end with one"));
    }
    return status_;
  }

 private:
  static void OnField(void* data, size_t size, void* self_ptr) {
    auto* self = static_cast<RecordAssembler*>(self_ptr);
    if (!self->status_.ok()) return;
    if (self->record_.fields.empty()) {
      self->record_.line = self->next_record_line_;
    }
    self->record_.fields.emplace_back(static_cast<const char*>(data), size);
  }

  static void OnRecordEnd(int /*terminator*/, void* self_ptr) {
    auto* self = static_cast<RecordAssembler*>(self_ptr);
    if (self->status_.ok()) self->status_ = self->visit_(self->record_);
    self->record_.fields.clear();
    // A CR-terminated record leaves its LF for the same chunk; the next
    // record starts on the next line at the earliest.
    self->next_record_line_ = self->line_ + 1;
  }

  const absl::string_view source_;
  CsvRecordVisitor visit_;
  csv_parser parser_;
  absl::Status status_;
  CsvRecord record_;
  size_t line_ = 0;
  size_t next_record_line_ = 1;
  bool last_chunk_ended_in_lf_ = false;
};

}  // namespace

absl::Status ValidateCsvDelimiter(char delimiter) {
  switch (delimiter) {
    case '"':
    case '\r':
    case '\n':
    case ' ':
    case '\0':
      return absl::InvalidArgumentError(absl::StrCat(
          "delimiter ", QuotedExcerpt(absl::string_view(&delimiter, 1)),
          " cannot separate fields; use ',', ';', '\\t' or '|'"));
    default:
      return absl::OkStatus();
  }
}

absl::Status ParseCsvText(absl::string_view text, absl::string_view source_name,
                          char delimiter, CsvRecordVisitor visit) {
  if (absl::Status s = ValidateCsvDelimiter(delimiter); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": ", s.message()));
  }
  RecordAssembler assembler(source_name, delimiter, visit);
  while (!text.empty()) {
    const size_t lf = text.find('\n');
    const size_t len = lf == absl::string_view::npos ? text.size() : lf + 1;
    RETURN_IF_ERROR(assembler.Feed(text.substr(0, len)));
    text.remove_prefix(len);
  }
  return assembler.Finish();
}

absl::Status ParseCsvFile(const std::string& path, char delimiter,
                          CsvRecordVisitor visit) {
  if (absl::Status s = ValidateCsvDelimiter(delimiter); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const std::string what = absl::StrCat("cannot open CSV file ", path);
    return errno != 0 ? absl::ErrnoToStatus(errno, what)
                      : absl::InternalError(what);
  }
  RecordAssembler assembler(path, delimiter, visit);
  std::string line;
  while (std::getline(in, line)) {
    if (!in.eof()) line.push_back('\n');  // getline found (and ate) an LF.
    RETURN_IF_ERROR(assembler.Feed(line));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return assembler.Finish();
}

std::string QuotedExcerpt(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) {
    return absl::StrCat("\"", absl::CHexEscape(text), "\"");
  }
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, max_bytes)),
                      "...\" (", text.size(), " bytes)");
}

}  // namespace fedlearn
