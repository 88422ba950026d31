// Client-level L2 clipping, the step that bounds one client's influence on
// the aggregate (its sensitivity) for differential privacy (DP-FedAvg,
// McMahan et al. 2018, "Learning Differentially Private Recurrent Language
// Models", Alg. 1 line "ClipFn"): update <- update * min(1, C / ||update||_2).
//
// The norm is accumulated in double, so clipping a 1e7-value update is exact
// to float rounding; afterwards ||update||_2 <= C * (1 + 1e-6) always holds
// (checked by tests over many random vectors). Refuses non-finite values
// rather than clipping them: NaN has no norm.
#ifndef FEDLEARN_COMMON_DP_L2_CLIPPING_H_
#define FEDLEARN_COMMON_DP_L2_CLIPPING_H_

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fedlearn {

struct ClipOutcome {
  double norm_before = 0;  // ||update||_2 as received
  bool clipped = false;    // norm_before > clip_norm: the update was scaled
};

// Scales `update` in place so that its L2 norm is at most `clip_norm`.
// InvalidArgument if clip_norm is not positive and finite or any value is
// not finite (the update is then untouched).
absl::StatusOr<ClipOutcome> ClipToL2Norm(absl::Span<float> update,
                                         double clip_norm);

// ||values||_2 accumulated in double.
double L2Norm(absl::Span<const float> values);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DP_L2_CLIPPING_H_
