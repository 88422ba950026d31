#include "common/wire/masked_value_codec.h"

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::Status CheckMaskedValueWidth(int width) {
  if (width != 2 && width != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "masked values are 2 or 4 bytes wide (modulus_bits <= 16 or <= 32), "
        "not ",
        width));
  }
  return absl::OkStatus();
}

absl::Status AppendMaskedValues(absl::Span<const uint32_t> values, int width,
                                std::string* out) {
  RETURN_IF_ERROR(CheckMaskedValueWidth(width));
  const size_t w = static_cast<size_t>(width);
  const size_t start = out->size();
  out->resize(start + values.size() * w);
  for (size_t i = 0; i < values.size(); ++i) {
    if (w == 2 && values[i] > 0xffffu) {
      out->resize(start);
      return absl::InvalidArgumentError(
          absl::StrCat("masked value ", values[i], " at index ", i,
                       " does not fit in 2 bytes"));
    }
    for (size_t b = 0; b < w; ++b) {
      (*out)[start + w * i + b] =
          static_cast<char>((values[i] >> (8 * b)) & 0xff);
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeMaskedValues(std::string_view bytes, int width,
                                absl::Span<uint32_t> out) {
  RETURN_IF_ERROR(CheckMaskedValueWidth(width));
  const size_t w = static_cast<size_t>(width);
  if (bytes.size() != out.size() * w) {
    return absl::InvalidArgumentError(
        absl::StrCat(bytes.size(), " bytes of masked values do not hold ",
                     out.size(), " values of ", width, " bytes"));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t v = 0;
    for (size_t b = 0; b < w; ++b) {
      v |= uint32_t{static_cast<unsigned char>(bytes[w * i + b])} << (8 * b);
    }
    out[i] = v;
  }
  return absl::OkStatus();
}

}  // namespace fedlearn
