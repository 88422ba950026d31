// DecodeFloat32LE (common/flat/flat_vector.h), the payload decoder of model
// files and plaintext updates, on arbitrary bytes and destination sizes; a
// successful decode must re-encode to the same bytes (NaN payloads included:
// the codec copies bits).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/flat/flat_vector.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  size_t count = bytes.size() / 4;
  if (selector & 1) count += selector >> 4;
  if ((selector & 2) && count > 0) count -= 1;
  std::vector<float> out(count);
  if (!fedlearn::DecodeFloat32LE(bytes, absl::MakeSpan(out)).ok()) return 0;
  fedlearn::fuzz::FuzzCheck(bytes.size() % 4 == 0, "accepted a partial float");
  fedlearn::fuzz::FuzzCheck(out.size() >= bytes.size() / 4,
                            "decoded past the destination");
  std::string again;
  fedlearn::AppendFloat32LE(absl::MakeConstSpan(out.data(), bytes.size() / 4),
                            &again);
  fedlearn::fuzz::FuzzCheck(again == bytes, "round trip changed the bytes");
  return 0;
}
