// The wire form of a secure-aggregation masked vector, written once for both
// sides: each value as `width` little-endian bytes, where `width` is
// MaskedValueBytes(modulus_bits) (common/secagg/input_encoding.h): 2 when
// modulus_bits <= 16, else 4.
//
// Guarantees: Decode(Encode(v)) == v for every v < 2^(8 * width). Refuses
// (InvalidArgument) a width other than 2 or 4, a value that does not fit the
// width, and a byte string whose length is not exactly out.size() * width:
// bytes from the network never become a partly written vector silently.
// Stateless; thread-safe.
#ifndef FEDLEARN_COMMON_WIRE_MASKED_VALUE_CODEC_H_
#define FEDLEARN_COMMON_WIRE_MASKED_VALUE_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace fedlearn {

// InvalidArgument unless `width` is 2 or 4.
absl::Status CheckMaskedValueWidth(int width);

// Appends `values` to `out`, `width` bytes each, little-endian; on error
// `out` is left as it was.
absl::Status AppendMaskedValues(absl::Span<const uint32_t> values, int width,
                                std::string* out);

// Decodes bytes.size() / width values into `out`.
absl::Status DecodeMaskedValues(std::string_view bytes, int width,
                                absl::Span<uint32_t> out);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_WIRE_MASKED_VALUE_CODEC_H_
