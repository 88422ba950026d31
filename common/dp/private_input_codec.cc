#include "common/dp/private_input_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace fedlearn {
namespace {

// Headroom, in standard deviations of the summed indicator noise, that the
// indicator slot keeps below 2^(b-1) so its sum cannot wrap.
constexpr double kIndicatorRangeStddevs = 8;
// Largest integer unit of one indicator: keeps the per-client noise inside
// the discrete Gaussian sampler's exact range.
constexpr double kMaxIndicatorScale = 1 << 20;

}  // namespace

absl::StatusOr<PrivateInputCodec> PrivateInputCodec::Create(
    const v1::DpTaskConfig& dp, const v1::SecAggEncoding& encoding,
    size_t dimension) {
  if (!(dp.clip_norm() > 0) || !std::isfinite(dp.clip_norm())) {
    return absl::InvalidArgumentError(
        absl::StrCat("dp clip norm must be positive, got ", dp.clip_norm()));
  }
  if (!(dp.indicator_noise_stddev() >= 0) ||
      !std::isfinite(dp.indicator_noise_stddev())) {
    return absl::InvalidArgumentError("dp indicator noise must be >= 0");
  }
  PrivateInputCodec codec;
  codec.mode_ = dp.mode();
  codec.dimension_ = dimension;
  switch (dp.mode()) {
    case v1::DpTaskConfig::CENTRAL: {
      EncodingParameters p;
      p.modulus_bits = static_cast<int>(encoding.modulus_bits());
      p.quantization_bits = static_cast<int>(encoding.quantization_bits());
      p.clip_range = dp.clip_norm();  // |x_j| <= ||x||_2 <= C
      p.max_weight = 1;
      p.max_clients = static_cast<int>(encoding.max_clients());
      ASSIGN_OR_RETURN(InputEncoder e, InputEncoder::Create(p));
      codec.modulus_bits_ = p.modulus_bits;
      codec.mask_ = e.modulus_mask();
      // Same unit as the weight slot: n_max of them provably fit.
      codec.indicator_scale_ = std::ldexp(1.0, p.quantization_bits - 1) - 1;
      codec.central_ = std::move(e);
      return codec;
    }
    case v1::DpTaskConfig::DISTRIBUTED: {
      DistributedDpParameters p;
      p.dimension = dimension;
      p.modulus_bits = static_cast<int>(dp.modulus_bits());
      p.clip_norm = dp.clip_norm();
      p.noise_stddev = dp.noise_stddev();
      p.min_clients = static_cast<int>(dp.min_clients());
      p.max_clients = static_cast<int>(dp.max_clients());
      if (dp.rotation_seed().size() != p.rotation_seed.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("dp rotation seed must be ", p.rotation_seed.size(),
                         " bytes, got ", dp.rotation_seed().size()));
      }
      std::memcpy(p.rotation_seed.data(), dp.rotation_seed().data(),
                  p.rotation_seed.size());
      ASSIGN_OR_RETURN(DistributedDpEncoder e, DistributedDpEncoder::Create(p));
      codec.modulus_bits_ = p.modulus_bits;
      codec.mask_ =
          p.modulus_bits == 32 ? 0xffffffffu : ((1u << p.modulus_bits) - 1);
      // Indicator slot: n_max * S + k * sqrt(n_max) * sigma_client < 2^(b-1).
      const double n_max = p.max_clients;
      const double n_min = p.min_clients;
      const double sd = dp.indicator_noise_stddev();
      const double spread =
          n_max + kIndicatorRangeStddevs * sd * std::sqrt(n_max / n_min) + 1;
      const double scale =
          std::min(kMaxIndicatorScale,
                   std::floor(std::ldexp(1.0, p.modulus_bits - 1) / spread));
      if (scale < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("the clipping indicator of ", p.max_clients,
                         " clients does not fit in ", p.modulus_bits,
                         " bits: raise secagg.modulus_bits"));
      }
      codec.indicator_scale_ = scale;
      if (sd > 0) {
        ASSIGN_OR_RETURN(codec.indicator_noise_,
                         DiscreteGaussianSampler::CreateAtLeast(
                             sd * scale / std::sqrt(n_min)));
      }
      codec.distributed_ = std::move(e);
      return codec;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown dp mode ", static_cast<int>(dp.mode())));
  }
}

size_t PrivateInputCodec::encoded_length() const {
  if (central_) return InputEncoder::EncodedLength(dimension_);
  return distributed_->encoded_length() + 1;
}

int64_t PrivateInputCodec::Centered(uint32_t v) const {
  const int b = modulus_bits_;
  const int64_t x = static_cast<int64_t>(v & mask_);
  return x >= (int64_t{1} << (b - 1)) ? x - (int64_t{1} << b) : x;
}

absl::StatusOr<std::vector<uint32_t>> PrivateInputCodec::Encode(
    absl::Span<const float> clipped, bool unclipped, NoiseSource& rng) const {
  if (clipped.size() != dimension_) {
    return absl::InvalidArgumentError(
        absl::StrCat("update has ", clipped.size(),
                     " values, the round expects ", dimension_));
  }
  const int64_t indicator = unclipped ? 1 : -1;
  if (central_) {
    ASSIGN_OR_RETURN(EncodedUpdate e, central_->Encode(clipped, 1, 0.0));
    e.values[dimension_] =
        static_cast<uint32_t>(indicator *
                              static_cast<int64_t>(indicator_scale_)) &
        mask_;
    return std::move(e.values);
  }
  ASSIGN_OR_RETURN(std::vector<uint32_t> values,
                   distributed_->Encode(clipped, rng));
  int64_t slot = indicator * static_cast<int64_t>(indicator_scale_);
  if (indicator_noise_) slot += indicator_noise_->Sample(rng);
  values.push_back(static_cast<uint32_t>(slot) & mask_);
  return values;
}

absl::StatusOr<PrivateSum> PrivateInputCodec::Decode(
    absl::Span<const uint32_t> sum) const {
  if (sum.size() != encoded_length()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sum has ", sum.size(), " values, expected ", encoded_length()));
  }
  PrivateSum out;
  if (central_) {
    ASSIGN_OR_RETURN(DecodedAggregate d, central_->Decode(sum));
    out.update_sum.resize(dimension_);
    for (size_t j = 0; j < dimension_; ++j) {
      out.update_sum[j] =
          static_cast<float>(d.weighted_mean[j] * d.total_weight);
    }
    out.indicator_sum = Centered(sum[dimension_]) / indicator_scale_;
    return out;
  }
  const size_t d = distributed_->encoded_length();
  ASSIGN_OR_RETURN(out.update_sum, distributed_->DecodeSum(sum.subspan(0, d)));
  out.indicator_sum = Centered(sum[d]) / indicator_scale_;
  out.noised = true;
  return out;
}

}  // namespace fedlearn
