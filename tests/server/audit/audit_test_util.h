// Helpers for the audit tests: write a log with a fake clock, read and
// rewrite its lines the way someone tampering with it would.
#ifndef FEDLEARN_TESTS_SERVER_AUDIT_AUDIT_TEST_UTIL_H_
#define FEDLEARN_TESTS_SERVER_AUDIT_AUDIT_TEST_UTIL_H_

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/util/clock.h"
#include "gtest/gtest.h"
#include "server/audit/audit_log.h"

namespace fedlearn::testing_util {

// The i-th of a few varied events (non-ASCII text, a double, a list).
inline AuditEvent SampleEvent(int i) {
  return AuditEvent{i % 2 == 0 ? "join" : "refused",
                    "site-" + std::to_string(i),
                    {{"n", i},
                     {"reason", "caf\xc3\xa9 closed"},
                     {"epsilon", 0.125 * i},
                     {"ids", {"a", "b"}}}};
}

// Writes `count` sample events to a new log at `path`; returns its head.
inline AuditHead WriteSampleLog(const std::string& path, int count,
                                int first = 0) {
  FakeClock clock;
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(path, &clock);
  EXPECT_TRUE(log.ok()) << log.status();
  if (!log.ok()) return AuditHead{};
  for (int i = first; i < first + count; ++i) {
    (*log)->Record(SampleEvent(i));
    clock.Advance(std::chrono::milliseconds(1500));
  }
  EXPECT_TRUE((*log)->healthy()) << (*log)->status();
  return (*log)->head();
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void Overwrite(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// Overwrites one byte in place (no truncation: quick on any filesystem).
inline void PatchByte(const std::string& path, size_t offset, char byte) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(byte);
}

// The lines of `path`, without their newlines.
inline std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(Slurp(path));
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

inline void WriteLines(const std::string& path,
                       const std::vector<std::string>& lines) {
  std::string content;
  for (const std::string& l : lines) content += l + "\n";
  Overwrite(path, content);
}

}  // namespace fedlearn::testing_util

#endif  // FEDLEARN_TESTS_SERVER_AUDIT_AUDIT_TEST_UTIL_H_
