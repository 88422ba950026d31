// An spdlog formatter that writes each log record as one JSON object on one
// line, for log shippers (Fluent Bit, Vector, Promtail) and journald-style
// consumers:
//
//   {"ts":"2026-12-01T15:14:21.123Z","level":"info","logger":"fedlearn",
//    "msg":"round 3 closed","pid":4711,"thread":4712}
//
// Guarantees: every record is exactly one line of valid JSON (RFC 8259) in
// valid UTF-8, whatever bytes the message holds. `ts` is RFC 3339 in UTC
// with milliseconds; `level` is spdlog's name (trace, debug, info, warning,
// error, critical); `source` ("file:line") appears only when the call site
// supplied it (SPDLOG_LOGGER_* macros). In `msg`, quotes, backslashes and
// control characters use JSON escapes, and each byte that is not part of
// well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF) becomes the four characters \xNN, so the decoded text
// shows it the way EscapeUntrusted (common/util/escape.h) would.
// Thread-safety: format() is called by spdlog under its sink's mutex; the
// formatter keeps no state between records.
#ifndef FEDLEARN_COMMON_UTIL_JSON_LOG_FORMATTER_H_
#define FEDLEARN_COMMON_UTIL_JSON_LOG_FORMATTER_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "spdlog/formatter.h"

namespace fedlearn {

class JsonLogFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// Appends `text` as a JSON string literal, quotes included (see above).
void AppendJsonString(absl::string_view text, std::string* out);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_UTIL_JSON_LOG_FORMATTER_H_
