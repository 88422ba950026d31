// The project's logging entry point: spdlog, plus a formatter so that
// absl::string_view (Debian's abseil does not alias std::string_view; it is
// what absl::Status::message() returns) can be logged directly.
// Two output formats on stderr: "text" (human-readable lines, the default)
// and "json" (one JSON object per line, common/util/json_log_formatter.h).
// ConfigureLogging and ReportError live in fl_log (log.cc); the rest is
// header-only. Configure before starting threads that log; ConfigureLogging
// may be called again (it replaces the logger), but not concurrently with
// logging. Never log key material or raw updates.
#ifndef FEDLEARN_COMMON_UTIL_LOG_H_
#define FEDLEARN_COMMON_UTIL_LOG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(
        fmt::string_view(s.data(), s.size()), ctx);
  }
};

namespace fedlearn {

// The levels every binary accepts (spdlog's names). spdlog maps any other
// name to "off", so each program checks against this list instead.
inline const std::vector<std::string>& LogLevelNames() {
  static const std::vector<std::string> names = {
      "trace", "debug", "info", "warn", "error", "critical", "off"};
  return names;
}

// The log formats every long-running binary accepts (--log-format).
inline const std::vector<std::string>& LogFormatNames() {
  static const std::vector<std::string> names = {"text", "json"};
  return names;
}

// Binaries log to stderr, so stdout carries only their results (progress
// lines, the bound port) for people and scripts to read. Installs the
// "fedlearn" logger as spdlog's default, replacing an earlier one.
// InvalidArgument (listing "text, json") for an unknown format, and then
// logging is left as it was.
absl::Status ConfigureLogging(const std::string& level,
                              const std::string& format);
// The text format (the default).
void ConfigureLogging(const std::string& level);

// Whether ConfigureLogging last installed the json format.
bool LoggingAsJson();

// A program's final error: with json logging, one error record through the
// logger (so stderr stays all JSON); otherwise the plain "program: text"
// line on stderr, as before logging is configured.
void ReportError(const char* program, absl::string_view text);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_UTIL_LOG_H_
