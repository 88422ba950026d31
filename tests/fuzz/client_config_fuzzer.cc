// The client daemon's TOML configuration (client/client_config.h, on the
// schema engine of common/config/config_schema.h) from arbitrary text, then
// the cross-key validation. Parse errors must be statuses, never crashes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "client/client_config.h"
#include "tests/fuzz/fuzz_quiet.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fedlearn::ClientConfig config = fedlearn::DefaultClientConfig();
  if (fedlearn::ParseClientConfig(text, "fuzz.toml", &config).ok()) {
    (void)fedlearn::ValidateClientConfig(config);
  }
  return 0;
}
