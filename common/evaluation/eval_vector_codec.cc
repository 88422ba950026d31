#include "common/evaluation/eval_vector_codec.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "common/util/bit_math.h"

namespace fedlearn {
namespace {

// Whether `report`'s vectors have `layout`'s sizes (ToVector's REQUIRES).
bool HasShape(const EvalLayout& layout, const SiteEvalReport& report) {
  SiteEvalReport zero = SiteEvalReport::Zero(layout);
  return zero.Add(report).code() != absl::StatusCode::kInvalidArgument;
}

}  // namespace

absl::StatusOr<EvalVectorCodec> EvalVectorCodec::Create(
    const EvalLayout& layout, int modulus_bits, int max_clients,
    uint64_t max_examples) {
  if (modulus_bits < 2 || modulus_bits > 32) {
    return absl::InvalidArgumentError(
        "the evaluation report's modulus bits must be in [2, 32]");
  }
  if (max_clients < 1) {
    return absl::InvalidArgumentError(
        "the evaluation report needs max_clients >= 1");
  }
  if (max_examples == 0 || max_examples >= (uint64_t{1} << 60)) {
    return absl::InvalidArgumentError(
        "evaluation.max_examples must be in [1, 2^60)");
  }
  // As CountLimbBits (common/secagg/input_encoding.h): N limbs of L bits
  // sum below N * 2^L <= 2^(b-1), so no sum wraps.
  const int limb_bits =
      modulus_bits - 1 - CeilLog2(static_cast<uint64_t>(max_clients));
  if (limb_bits < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the evaluation report of ", max_clients, " clients does not fit in ",
        modulus_bits,
        " bits: raise secagg.modulus_bits or sample fewer clients per round"));
  }
  EvalVectorCodec codec;
  codec.layout_ = layout;
  codec.modulus_bits_ = modulus_bits;
  codec.limb_bits_ = limb_bits;
  codec.bounds_ = SiteReportBounds(layout, max_examples);
  codec.max_clients_ = static_cast<uint64_t>(max_clients);
  for (uint64_t bound : codec.bounds_) {
    if (static_cast<unsigned __int128>(bound) * codec.max_clients_ >
        std::numeric_limits<uint64_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the evaluation report's sums over ", max_clients,
          " clients could exceed 64 bits: lower evaluation.max_examples or "
          "evaluation.max_loss"));
    }
    const int limbs = (BitLength(bound) + limb_bits - 1) / limb_bits;
    codec.limbs_.push_back(limbs);
    codec.length_ += static_cast<size_t>(limbs);
  }
  return codec;
}

size_t EvalVectorCodec::length() const { return length_; }

absl::StatusOr<std::vector<uint32_t>> EvalVectorCodec::Encode(
    const SiteEvalReport& report) const {
  if (!HasShape(layout_, report)) {
    return absl::InvalidArgumentError(
        "evaluation report does not match the run's layout");
  }
  const std::vector<uint64_t> values = report.ToVector(layout_);
  const uint64_t limb_mask = (uint64_t{1} << limb_bits_) - 1;
  std::vector<uint32_t> out;
  out.reserve(length_);
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] > bounds_[i]) {
      return absl::OutOfRangeError(
          absl::StrCat("evaluation report value ", i, " is ", values[i],
                       ", above its public bound ", bounds_[i]));
    }
    for (int k = 0; k < limbs_[i]; ++k) {
      const int shift = k * limb_bits_;
      out.push_back(shift >= 64 ? 0u
                                : static_cast<uint32_t>((values[i] >> shift) &
                                                        limb_mask));
    }
  }
  return out;
}

absl::StatusOr<SiteEvalReport> EvalVectorCodec::DecodeSum(
    absl::Span<const uint32_t> sum) const {
  if (sum.size() != length_) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation sum has ", sum.size(), " values; the codec ",
                     "expects ", length_));
  }
  const uint64_t modulus_mask = (uint64_t{1} << modulus_bits_) - 1;
  const uint64_t max_limb_sum =
      max_clients_ * ((uint64_t{1} << limb_bits_) - 1);
  std::vector<uint64_t> values(bounds_.size());
  size_t pos = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    unsigned __int128 total = 0;
    for (int k = 0; k < limbs_[i]; ++k, ++pos) {
      const uint64_t limb = uint64_t{sum[pos]} & modulus_mask;
      if (limb > max_limb_sum) {
        return absl::InvalidArgumentError(absl::StrCat(
            "evaluation sum's value ", i, " limb ", k, " is ", limb,
            ", outside what ", max_clients_,
            " encodings can produce: a client sent a malformed encoding"));
      }
      const int shift = k * limb_bits_;
      if (shift >= 128 || (limb != 0 && shift + BitLength(limb) > 127)) {
        return absl::InvalidArgumentError(
            "evaluation sum's value is too large");
      }
      total += static_cast<unsigned __int128>(limb) << shift;
    }
    const unsigned __int128 max_total =
        static_cast<unsigned __int128>(bounds_[i]) * max_clients_;
    if (total > max_total) {
      return absl::InvalidArgumentError(absl::StrCat(
          "evaluation sum's value ", i, " exceeds ", max_clients_,
          " x its bound ", bounds_[i], ": a client sent a malformed encoding"));
    }
    values[i] = static_cast<uint64_t>(total);
  }
  return SiteEvalReport::FromVector(layout_, values);
}

}  // namespace fedlearn
