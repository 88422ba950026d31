// DecodeMaskedValues (common/wire/masked_value_codec.h) on arbitrary bytes at
// both wire widths: the first byte picks the width (and, rarely, an invalid
// one) and how many values the caller expects; a successful decode must
// re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/wire/masked_value_codec.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  static constexpr int kWidths[] = {2, 4, 2, 4, 2, 4, 0, 3};
  const int width = kWidths[selector & 7];
  // Mostly the length a real caller derives (bytes / width), sometimes off.
  size_t count = width > 0 ? bytes.size() / width : bytes.size();
  if (selector & 0x08) count += 1;
  if ((selector & 0x10) && count > 0) count -= 1;
  std::vector<uint32_t> out(count, 0xdeadbeef);
  const absl::Status status =
      fedlearn::DecodeMaskedValues(bytes, width, absl::MakeSpan(out));
  if (!status.ok()) return 0;
  fedlearn::fuzz::FuzzCheck(width == 2 || width == 4, "accepted a bad width");
  std::string again;
  fedlearn::fuzz::FuzzCheck(
      fedlearn::AppendMaskedValues(out, width, &again).ok(),
      "decoded values do not re-encode");
  fedlearn::fuzz::FuzzCheck(again == bytes, "round trip changed the bytes");
  return 0;
}
