// Silences the libraries' own logging in a fuzz target: protobuf reports
// every invalid UTF-8 string it refuses, spdlog every event of the engines,
// and at thousands of inputs a second that output is the bottleneck.
// Call from LLVMFuzzerInitialize. Test-only.
#ifndef FEDLEARN_TESTS_FUZZ_FUZZ_QUIET_H_
#define FEDLEARN_TESTS_FUZZ_FUZZ_QUIET_H_

#include "google/protobuf/stubs/logging.h"
#include "spdlog/spdlog.h"

namespace fedlearn::fuzz {

inline void QuietLogs() {
  google::protobuf::SetLogHandler(nullptr);
  spdlog::set_level(spdlog::level::off);
}

}  // namespace fedlearn::fuzz

#endif  // FEDLEARN_TESTS_FUZZ_FUZZ_QUIET_H_
