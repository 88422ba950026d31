#include "client/training/qffl_transform.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/config/qffl_update.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

bool FitsFloat(double x) {
  return std::isfinite(x) && std::abs(x) <= std::numeric_limits<float>::max();
}

}  // namespace

absl::StatusOr<FlatVector> QfflClientValues(absl::Span<const float> delta,
                                            double global_loss, double q,
                                            double lipschitz) {
  if (!(q >= 0) || !std::isfinite(q) || !(lipschitz > 0) ||
      !std::isfinite(lipschitz)) {
    return absl::InvalidArgumentError(
        absl::StrCat("q-FFL needs q >= 0 and L > 0, both finite; got q = ", q,
                     ", L = ", lipschitz));
  }
  if (!(global_loss >= 0) || !std::isfinite(global_loss)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "q-FFL: the global model's loss must be finite and >= 0, not ",
        global_loss));
  }
  const double f = global_loss + kQfflLossOffset;
  const double fq = std::pow(f, q);
  double norm2 = 0;  // ||delta||^2
  for (float x : delta) norm2 += static_cast<double>(x) * x;
  // h / L = F^q + q F^(q-1) L ||delta||^2  (= h_k / L, Li et al. Alg. 2).
  const double curvature =
      q == 0 ? 0.0 : q * std::pow(f, q - 1) * lipschitz * norm2;
  const double h_over_l = fq + curvature;
  const double denominator = h_over_l / kQfflDenominatorScale;
  if (!FitsFloat(fq) || !FitsFloat(denominator)) {
    return absl::OutOfRangeError(absl::StrFormat(
        "q-FFL: F^q = %.6g and h/L = %.6g (F = %.6g, q = %.6g) overflow "
        "float32; lower strategy.qffl_q",
        fq, h_over_l, f, q));
  }
  FlatVector out(delta.size() + 1);
  for (size_t j = 0; j < delta.size(); ++j) {
    const double u = fq * static_cast<double>(delta[j]);
    if (!FitsFloat(u)) {
      return absl::OutOfRangeError(
          absl::StrFormat("q-FFL: F^q * delta = %.6g overflows float32; lower "
                          "strategy.qffl_q",
                          u));
    }
    out[j] = static_cast<float>(u);
  }
  out[delta.size()] = static_cast<float>(denominator);
  return out;
}

absl::Status ApplyQfflTransform(const TrainingConfig& config, bool dp,
                                double clip_range, TrainingResult* result) {
  if (!QfflEnabled(config)) {
    return absl::InvalidArgumentError("the task does not ask for q-FFL");
  }
  if (dp) {
    return absl::InvalidArgumentError(
        "q-FFL is refused with differential privacy: its denominator h_k "
        "grows with ||delta||^2 and F^q, so one client's influence has no "
        "bound to calibrate noise to");
  }
  if (!result->global_loss.has_value()) {
    return absl::InternalError("q-FFL: the trainer reported no global loss");
  }
  ASSIGN_OR_RETURN(FlatVector values,
                   QfflClientValues(result->delta.span(), *result->global_loss,
                                    config.qffl_q, config.qffl_lipschitz));
  const double h = values[values.size() - 1];
  if (clip_range > 0 && h > clip_range) {
    return absl::OutOfRangeError(absl::StrFormat(
        "q-FFL: the denominator value h/(L H) = %.6g exceeds the secure "
        "encoding's clip range %.6g (F = %.6g); raise secagg.clip_range or "
        "lower strategy.qffl_q",
        h, clip_range, *result->global_loss));
  }
  result->delta = std::move(values);
  result->num_examples = 1;
  return absl::OkStatus();
}

}  // namespace fedlearn
