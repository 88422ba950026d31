#include "common/util/log.h"

#include <atomic>
#include <cstdio>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/json_log_formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace fedlearn {
namespace {

constexpr char kLoggerName[] = "fedlearn";
std::atomic<bool> json_logging{false};

}  // namespace

absl::Status ConfigureLogging(const std::string& level,
                              const std::string& format) {
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log format \"", format, "\"; use one of ",
                     absl::StrJoin(LogFormatNames(), ", ")));
  }
  spdlog::sink_ptr sink;
  if (format == "json") {
    // No colour codes ever, whatever stderr is.
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(std::make_unique<JsonLogFormatter>());
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>(kLoggerName, std::move(sink));
  // The logger this replaces stays alive: a thread that already holds it
  // (spdlog::info reads the default without a lock) may still write to it.
  static std::vector<std::shared_ptr<spdlog::logger>>* replaced =
      new std::vector<std::shared_ptr<spdlog::logger>>();
  if (std::shared_ptr<spdlog::logger> previous = spdlog::default_logger()) {
    replaced->push_back(std::move(previous));
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  json_logging.store(format == "json");
  return absl::OkStatus();
}

void ConfigureLogging(const std::string& level) {
  absl::Status s = ConfigureLogging(level, "text");
  (void)s;  // "text" is always known
}

bool LoggingAsJson() { return json_logging.load(); }

void ReportError(const char* program, absl::string_view text) {
  if (LoggingAsJson()) {
    // Straight to the sinks: a final error is shown even at log_level off.
    spdlog::logger* logger = spdlog::default_logger_raw();
    const spdlog::details::log_msg msg(
        logger->name(), spdlog::level::err,
        spdlog::string_view_t(text.data(), text.size()));
    for (const spdlog::sink_ptr& sink : logger->sinks()) {
      sink->log(msg);
      sink->flush();
    }
    return;
  }
  std::fprintf(stderr, "%s: %.*s\n", program, static_cast<int>(text.size()),
               text.data());
}

}  // namespace fedlearn
