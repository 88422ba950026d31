#include "common/util/json_log_formatter.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"

namespace fedlearn {
namespace {

bool InRange(unsigned char c, unsigned char lo, unsigned char hi) {
  return c >= lo && c <= hi;
}

// The length of the well-formed UTF-8 sequence that starts text[i] (RFC 3629
// section 4, the table of valid byte sequences), or 0 if there is none.
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) -> unsigned char {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0;
  };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  if (InRange(b0, 0xC2, 0xDF)) return InRange(byte(1), 0x80, 0xBF) ? 2 : 0;
  if (InRange(b0, 0xE0, 0xEF)) {
    const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
    const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;  // no surrogates
    return InRange(byte(1), lo, hi) && InRange(byte(2), 0x80, 0xBF) ? 3 : 0;
  }
  if (InRange(b0, 0xF0, 0xF4)) {
    const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;  // no overlong forms
    const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;  // <= U+10FFFF
    return InRange(byte(1), lo, hi) && InRange(byte(2), 0x80, 0xBF) &&
                   InRange(byte(3), 0x80, 0xBF)
               ? 4
               : 0;
  }
  return 0;  // a continuation byte, C0/C1 or F5..FF
}

void AppendHex(const char* format, unsigned char c, std::string* out) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), format, c);
  out->append(buf);
}

// 2026-12-01T15:14:21.123Z
std::string Rfc3339Utc(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      t.time_since_epoch())
                      .count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {  // before 1970: floor, not truncate
    millis += 1000;
    --seconds;
  }
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[96];  // room for any int fields, to keep -Wformat quiet
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                utc.tm_min, utc.tm_sec, millis);
  return buf;
}

absl::string_view View(spdlog::string_view_t s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace

void AppendJsonString(absl::string_view text, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      AppendHex("\\\\x%02x", c, out);  // decodes to the text \xNN
      ++i;
      continue;
    }
    if (length > 1) {
      out->append(text.data() + i, length);
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c < 0x20 || c == 0x7F) {
      AppendHex("\\u%04x", c, out);
    } else {
      out->push_back(static_cast<char>(c));
    }
    i += length;
  }
  out->push_back('"');
}

void JsonLogFormatter::format(const spdlog::details::log_msg& msg,
                              spdlog::memory_buf_t& dest) {
  std::string line =
      absl::StrCat("{\"ts\":\"", Rfc3339Utc(msg.time), "\",\"level\":");
  AppendJsonString(View(spdlog::level::to_string_view(msg.level)), &line);
  line.append(",\"logger\":");
  AppendJsonString(View(msg.logger_name), &line);
  line.append(",\"msg\":");
  AppendJsonString(View(msg.payload), &line);
  absl::StrAppend(&line, ",\"pid\":", ::getpid(),
                  ",\"thread\":", msg.thread_id);
  if (!msg.source.empty()) {
    line.append(",\"source\":");
    AppendJsonString(absl::StrCat(msg.source.filename, ":", msg.source.line),
                     &line);
  }
  line.append("}\n");
  dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

}  // namespace fedlearn
