// How a differentially private round's update travels through secure
// aggregation. Client and coordinator build the same codec from the round's
// task (DpTaskConfig + SecAggEncoding), so both agree on every parameter.
//
// Layout of the encoded vector (values in Z_(2^b)):
//   CENTRAL:      InputEncoder(clip_range = C, unit weight) over the clipped
//                 update, D values, then one slot carrying the clipping
//                 indicator s = +1 (norm <= C) or -1 (clipped), then the
//                 weight slot (1 per client). The coordinator adds the
//                 Gaussian noise after unmasking (server/round/dp_planner.h).
//   DISTRIBUTED:  DistributedDpEncoder over the clipped update (d = D padded
//                 to a power of two; rotation, rounding, discrete Gaussian
//                 noise), then one slot s * S + N_Z(0, sigma_s^2) where the
//                 indicator noise is split over min_clients like the
//                 update's. The coordinator never sees an un-noised sum.
// The indicator feeds adaptive clipping (Andrew et al. 2021): the sum of s/2
// is the centred count of unclipped clients, with sensitivity 1/2.
//
// The training loss is not transmitted in DP rounds: it is a per-client
// statistic no noise protects.
#ifndef FEDLEARN_COMMON_DP_PRIVATE_INPUT_CODEC_H_
#define FEDLEARN_COMMON_DP_PRIVATE_INPUT_CODEC_H_

#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/dp/discrete_gaussian.h"
#include "common/dp/distributed_dp_encoding.h"
#include "common/dp/noise_source.h"
#include "common/secagg/input_encoding.h"
#include "proto/fedlearn/v1/fedlearn.pb.h"

namespace fedlearn {

struct PrivateSum {
  std::vector<float>
      update_sum;  // sum of clipped updates (+ noise if distributed)
  // Sum of the +-1 clipping indicators (+ noise if distributed).
  double indicator_sum = 0;
  bool noised = false;  // true when the clients' noise is already in it
};

class PrivateInputCodec {
 public:
  // InvalidArgument for an unknown mode, a non-positive clip norm, or
  // encoding parameters the codecs refuse.
  static absl::StatusOr<PrivateInputCodec> Create(
      const v1::DpTaskConfig& dp, const v1::SecAggEncoding& encoding,
      size_t dimension);

  size_t encoded_length() const;
  v1::DpTaskConfig::Mode mode() const { return mode_; }
  // Distributed only: the encoder (its noise and sensitivity, for accounting).
  const DistributedDpEncoder* distributed() const {
    return distributed_ ? &*distributed_ : nullptr;
  }

  // Distributed only: integer units of one +-1 indicator and the variance of
  // each client's noise on it (0 without adaptive clipping), for accounting.
  double indicator_scale() const { return indicator_scale_; }
  double indicator_noise_variance() const {
    return indicator_noise_ ? indicator_noise_->variance() : 0.0;
  }

  // Client side. `clipped` already satisfies ||clipped||_2 <= clip_norm.
  absl::StatusOr<std::vector<uint32_t>> Encode(absl::Span<const float> clipped,
                                               bool unclipped,
                                               NoiseSource& rng) const;
  // Coordinator side: `sum` is the unmasked sum of encoded vectors.
  absl::StatusOr<PrivateSum> Decode(absl::Span<const uint32_t> sum) const;

 private:
  PrivateInputCodec() = default;
  int64_t Centered(uint32_t v) const;

  v1::DpTaskConfig::Mode mode_ = v1::DpTaskConfig::DP_MODE_UNSPECIFIED;
  size_t dimension_ = 0;
  int modulus_bits_ = 32;
  uint32_t mask_ = 0xffffffffu;
  std::optional<InputEncoder> central_;
  double indicator_scale_ = 1;  // integer units of one indicator
  std::optional<DistributedDpEncoder> distributed_;
  std::optional<DiscreteGaussianSampler> indicator_noise_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_DP_PRIVATE_INPUT_CODEC_H_
