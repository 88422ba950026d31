// The project's logging entry point: spdlog, plus a formatter so that
// absl::string_view (Debian's abseil does not alias std::string_view; it is
// what absl::Status::message() returns) can be logged directly.
// Never log key material or raw updates.
#ifndef FEDLEARN_COMMON_UTIL_LOG_H_
#define FEDLEARN_COMMON_UTIL_LOG_H_

#include <string>
#include <vector>

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

// Binaries log to stderr, so stdout carries only their results (progress
// lines, the bound port) for people and scripts to read.
inline void ConfigureLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("fedlearn");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_UTIL_LOG_H_
