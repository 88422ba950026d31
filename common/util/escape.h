// Client-supplied text on its way into a log line or an error message:
// escaped (no newlines or control bytes, so a client cannot forge log lines)
// and truncated (so it cannot grow a log without bound).
#ifndef FEDLEARN_COMMON_UTIL_ESCAPE_H_
#define FEDLEARN_COMMON_UTIL_ESCAPE_H_

#include <cstddef>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fedlearn {

// C-escapes `text` and keeps at most `max_chars` of the escaped result,
// saying how many input bytes were cut.
inline std::string EscapeUntrusted(absl::string_view text,
                                   size_t max_chars = 200) {
  const size_t kept_input = text.size() > max_chars ? max_chars : text.size();
  std::string out = absl::CHexEscape(text.substr(0, kept_input));
  if (out.size() > max_chars) out.resize(max_chars);
  if (kept_input < text.size()) {
    absl::StrAppend(&out, "...[", text.size() - kept_input, " more bytes]");
  }
  return out;
}

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_UTIL_ESCAPE_H_
