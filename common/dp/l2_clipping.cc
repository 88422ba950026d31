#include "common/dp/l2_clipping.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace fedlearn {

double L2Norm(absl::Span<const float> values) {
  double sum = 0;
  for (float v : values) sum += static_cast<double>(v) * v;
  return std::sqrt(sum);
}

absl::StatusOr<ClipOutcome> ClipToL2Norm(absl::Span<float> update,
                                         double clip_norm) {
  if (!(clip_norm > 0) || !std::isfinite(clip_norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip norm must be positive and finite, got ", clip_norm));
  }
  ClipOutcome out;
  // One pass: a NaN or infinity makes the norm non-finite (finite floats
  // squared cannot overflow a double sum); only then look for the culprit.
  out.norm_before = L2Norm(update);
  if (!std::isfinite(out.norm_before)) {
    for (size_t i = 0; i < update.size(); ++i) {
      if (!std::isfinite(update[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot clip: value ", i, " is not finite"));
      }
    }
    return absl::InvalidArgumentError("cannot clip: the norm is not finite");
  }
  if (out.norm_before <= clip_norm) return out;
  out.clipped = true;
  // Scale in double, then round each product to float; the factor is
  // shrunk by one part in 10^7 so float rounding cannot push the norm above
  // clip_norm by more than the documented 1e-6.
  const double factor = clip_norm / out.norm_before * (1.0 - 1e-7);
  for (float& v : update) v = static_cast<float>(v * factor);
  return out;
}

}  // namespace fedlearn
