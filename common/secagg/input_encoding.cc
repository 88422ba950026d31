#include "common/secagg/input_encoding.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace fedlearn {
namespace {

// Unbiased stochastic rounding coins from the OS CSPRNG, fetched in bulk.
class CoinStream {
 public:
  double Next() {
    if (pos_ == buffer_.size()) {
      RAND_bytes(reinterpret_cast<unsigned char*>(buffer_.data()),
                 static_cast<int>(buffer_.size() * sizeof(uint64_t)));
      pos_ = 0;
    }
    // 53 random bits -> uniform in [0, 1).
    return static_cast<double>(buffer_[pos_++] >> 11) * 0x1.0p-53;
  }

 private:
  std::vector<uint64_t> buffer_ = std::vector<uint64_t>(4096);
  size_t pos_ = 4096;
};

int64_t StochasticRound(double x, CoinStream& coins) {
  const double lower = std::floor(x);
  return static_cast<int64_t>(lower) + (coins.Next() < x - lower ? 1 : 0);
}

}  // namespace

absl::StatusOr<InputEncoder> InputEncoder::Create(const EncodingParameters& p) {
  if (p.modulus_bits < 2 || p.modulus_bits > 32) {
    return absl::InvalidArgumentError("secagg.modulus_bits must be in [2, 32]");
  }
  if (p.quantization_bits < 2 || p.quantization_bits > p.modulus_bits) {
    return absl::InvalidArgumentError(
        "secagg.quantization_bits must be in [2, secagg.modulus_bits]");
  }
  if (!(p.clip_range > 0) || !std::isfinite(p.clip_range)) {
    return absl::InvalidArgumentError("secagg.clip_range must be positive");
  }
  if (!(p.max_weight >= 1) || !std::isfinite(p.max_weight)) {
    return absl::InvalidArgumentError("secagg.max_weight must be >= 1");
  }
  if (p.max_clients < 1) {
    return absl::InvalidArgumentError("secagg max clients must be >= 1");
  }
  // n_max values of magnitude <= 2^(q-1)-1 must sum below 2^(b-1).
  const double max_abs = std::ldexp(1.0, p.quantization_bits - 1) - 1;
  if (static_cast<double>(p.max_clients) * max_abs >= std::ldexp(1.0, p.modulus_bits - 1)) {
    const int room = p.modulus_bits - 1 -
                     static_cast<int>(std::ceil(std::log2(double(p.max_clients))));
    return absl::InvalidArgumentError(absl::StrCat(
        "secure aggregation could overflow: ", p.max_clients, " clients x 2^",
        p.quantization_bits - 1, " per value can reach 2^", p.modulus_bits - 1,
        "; lower secagg.quantization_bits to at most ", std::max(room, 1),
        ", raise secagg.modulus_bits, or sample fewer clients per round"));
  }
  return InputEncoder(p);
}

InputEncoder::InputEncoder(const EncodingParameters& p)
    : params_(p),
      mask_(p.modulus_bits == 32 ? 0xffffffffu : ((1u << p.modulus_bits) - 1)),
      scale_((std::ldexp(1.0, p.quantization_bits - 1) - 1) / p.clip_range),
      loss_scale_((std::ldexp(1.0, p.quantization_bits - 1) - 1) / kMaxEncodedLoss),
      weight_scale_(std::ldexp(1.0, p.quantization_bits - 1) - 1) {}

absl::StatusOr<EncodedUpdate> InputEncoder::Encode(absl::Span<const float> update,
                                                   uint64_t num_examples,
                                                   double train_loss) const {
  if (num_examples == 0) {
    return absl::InvalidArgumentError("cannot encode an update with zero examples");
  }
  if (!std::isfinite(train_loss) || train_loss < 0) {
    return absl::InvalidArgumentError("train loss must be finite and >= 0");
  }
  const double w =
      std::min(static_cast<double>(num_examples), params_.max_weight) / params_.max_weight;
  const double c = params_.clip_range;
  EncodedUpdate out;
  out.values.resize(EncodedLength(update.size()));
  CoinStream coins;
  size_t clipped = 0;
  for (size_t j = 0; j < update.size(); ++j) {
    const double x = update[j];
    if (!std::isfinite(x)) {
      return absl::InvalidArgumentError(
          absl::StrCat("update value at index ", j, " is not finite"));
    }
    double v = x;
    if (v > c || v < -c) {
      v = std::clamp(v, -c, c);
      ++clipped;
    }
    const int64_t q = StochasticRound(w * v * scale_, coins);
    out.values[j] = static_cast<uint32_t>(q) & mask_;
  }
  const double loss = std::min(train_loss, kMaxEncodedLoss);
  out.values[update.size()] =
      static_cast<uint32_t>(StochasticRound(w * loss * loss_scale_, coins)) & mask_;
  out.values[update.size() + 1] =
      static_cast<uint32_t>(StochasticRound(w * weight_scale_, coins)) & mask_;
  out.clipped_fraction =
      update.empty() ? 0.0 : static_cast<double>(clipped) / update.size();
  return out;
}

int64_t InputEncoder::ToSigned(uint32_t v) const {
  const int b = params_.modulus_bits;
  const int64_t x = static_cast<int64_t>(v & mask_);
  return x >= (int64_t{1} << (b - 1)) ? x - (int64_t{1} << b) : x;
}

absl::StatusOr<DecodedAggregate> InputEncoder::Decode(
    absl::Span<const uint32_t> sum) const {
  if (sum.size() < 3) {
    return absl::InvalidArgumentError("aggregate lacks its loss and weight elements");
  }
  const size_t d = sum.size() - 2;
  const double total_weight = ToSigned(sum[d + 1]) / weight_scale_;
  if (!(total_weight > 0)) {
    return absl::FailedPreconditionError(
        "aggregate carries no weight: no client contributed");
  }
  DecodedAggregate out;
  out.total_weight = total_weight;
  out.mean_loss = ToSigned(sum[d]) / loss_scale_ / total_weight;
  out.weighted_mean = FlatVector(d);
  const double factor = 1.0 / (scale_ * total_weight);
  for (size_t j = 0; j < d; ++j) {
    out.weighted_mean[j] = static_cast<float>(ToSigned(sum[j]) * factor);
  }
  return out;
}

}  // namespace fedlearn
