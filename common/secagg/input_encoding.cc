#include "common/secagg/input_encoding.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/crypto/mask_prg.h"
#include "common/util/bit_math.h"

namespace fedlearn {
namespace {

// Unbiased stochastic rounding coins, fetched in bulk: from the OS CSPRNG,
// or from ExpandMask(seed, domain/<block>) when a seed is given.
class CoinStream {
 public:
  explicit CoinStream(const SecretBytes* seed) : seed_(seed) {}

  double Next() {
    if (pos_ == buffer_.size()) Refill();
    // 53 random bits -> uniform in [0, 1).
    return static_cast<double>(buffer_[pos_++] >> 11) * 0x1.0p-53;
  }
  bool failed() const { return failed_; }

 private:
  void Refill() {
    pos_ = 0;
    if (seed_ == nullptr) {
      failed_ |=
          RAND_bytes(reinterpret_cast<unsigned char*>(buffer_.data()),
                     static_cast<int>(buffer_.size() * sizeof(uint64_t))) != 1;
      return;
    }
    words_.resize(buffer_.size() * 2);
    failed_ |=
        !ExpandMask(*seed_, absl::StrCat(kSeededRoundingDomain, "/", block_++),
                    absl::MakeSpan(words_))
             .ok();
    for (size_t i = 0; i < buffer_.size(); ++i) {
      buffer_[i] = (uint64_t{words_[2 * i + 1]} << 32) | words_[2 * i];
    }
  }

  const SecretBytes* seed_;
  std::vector<uint64_t> buffer_ = std::vector<uint64_t>(4096);
  std::vector<uint32_t> words_;  // seeded refills: the PRG's output words
  size_t pos_ = 4096;
  uint64_t block_ = 0;
  bool failed_ = false;
};

int64_t StochasticRound(double x, CoinStream& coins) {
  const double lower = std::floor(x);
  return static_cast<int64_t>(lower) + (coins.Next() < x - lower ? 1 : 0);
}

// Counts (and their sums over max_clients) stay exact in a double.
constexpr double kMaxTotalExamples = 0x1.0p53;

}  // namespace

int LargestQuantizationBits(int modulus_bits, int clients) {
  if (clients < 1 || modulus_bits < 2 || modulus_bits > 32) return 0;
  const double limit = std::ldexp(1.0, modulus_bits - 1);
  for (int q = modulus_bits; q >= 2; --q) {
    if (static_cast<double>(clients) * (std::ldexp(1.0, q - 1) - 1) < limit) {
      return q;
    }
  }
  return 0;
}

int CountLimbBits(int modulus_bits, int clients) {
  if (clients < 1) return 0;
  return std::max(0,
                  modulus_bits - 1 - CeilLog2(static_cast<uint64_t>(clients)));
}

absl::StatusOr<EncodingParameters> ChooseCohortEncoding(
    const EncodingParameters& configured, int cohort_size,
    uint64_t largest_declared, int max_count_limbs) {
  if (cohort_size < 1) {
    return absl::InvalidArgumentError(
        "a secure round needs a non-empty cohort");
  }
  EncodingParameters p = configured;
  p.max_clients = cohort_size;
  // The configured q is a floor: Create() refuses it, naming the knob, when
  // even it could overflow for this cohort.
  if (absl::StatusOr<InputEncoder> floor = InputEncoder::Create(p);
      !floor.ok()) {
    return floor.status();
  }
  p.quantization_bits =
      std::max(configured.quantization_bits,
               LargestQuantizationBits(configured.modulus_bits, cohort_size));
  // Rounded up to a power of two: the cohort's clients, who all receive
  // max_weight, learn only the magnitude of the largest site, at the cost of
  // at most half of Σw (one bit of precision).
  const uint64_t declared = std::min<uint64_t>(
      std::max<uint64_t>(largest_declared, 1), uint64_t{1} << 53);
  const double m_declared = std::ldexp(1.0, CeilLog2(declared));
  double m = std::min(std::floor(configured.max_weight), m_declared);
  if (max_count_limbs > 0) {
    const int carried =
        std::min(53, max_count_limbs *
                         CountLimbBits(configured.modulus_bits, cohort_size));
    m = std::min(m, std::ldexp(1.0, carried) - 1);
  }
  // Keep N * M exact (Create() refuses larger); only absurd claims get here.
  m = std::min(m, std::floor((kMaxTotalExamples - 1) / cohort_size));
  p.max_weight = std::max(m, 1.0);
  if (absl::StatusOr<InputEncoder> e = InputEncoder::Create(p); !e.ok()) {
    return e.status();
  }
  return p;
}

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
  if (!(p.max_weight >= 1) || !std::isfinite(p.max_weight) ||
      p.max_weight != std::floor(p.max_weight)) {
    return absl::InvalidArgumentError(
        "secagg.max_weight must be a whole number of examples >= 1");
  }
  if (p.max_clients < 1) {
    return absl::InvalidArgumentError("secagg max clients must be >= 1");
  }
  // n_max values of magnitude <= 2^(q-1)-1 must sum below 2^(b-1).
  const double max_abs = std::ldexp(1.0, p.quantization_bits - 1) - 1;
  if (static_cast<double>(p.max_clients) * max_abs >=
      std::ldexp(1.0, p.modulus_bits - 1)) {
    const int room = LargestQuantizationBits(p.modulus_bits, p.max_clients);
    return absl::InvalidArgumentError(absl::StrCat(
        "secure aggregation could overflow: ", p.max_clients, " clients x 2^",
        p.quantization_bits - 1, " per value can reach 2^", p.modulus_bits - 1,
        "; lower secagg.quantization_bits to at most ", std::max(room, 1),
        ", raise secagg.modulus_bits, or sample fewer clients per round"));
  }
  if (CountLimbBits(p.modulus_bits, p.max_clients) < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the example count of ", p.max_clients,
                     " clients does not fit in ", p.modulus_bits,
                     " bits: raise secagg.modulus_bits or sample fewer "
                     "clients per round"));
  }
  if (static_cast<double>(p.max_clients) * p.max_weight >= kMaxTotalExamples) {
    return absl::InvalidArgumentError(absl::StrCat(
        "secagg.max_weight ", p.max_weight, " x ", p.max_clients,
        " clients exceeds 2^53 examples: lower secagg.max_weight"));
  }
  return InputEncoder(p);
}

InputEncoder::InputEncoder(const EncodingParameters& p)
    : params_(p),
      mask_(p.modulus_bits == 32 ? 0xffffffffu : ((1u << p.modulus_bits) - 1)),
      scale_((std::ldexp(1.0, p.quantization_bits - 1) - 1) / p.clip_range),
      loss_scale_((std::ldexp(1.0, p.quantization_bits - 1) - 1) /
                  kMaxEncodedLoss),
      count_limb_bits_(CountLimbBits(p.modulus_bits, p.max_clients)) {
  const int bits = BitLength(static_cast<uint64_t>(p.max_weight));
  count_limbs_ = (bits + count_limb_bits_ - 1) / count_limb_bits_;
}

absl::StatusOr<EncodedUpdate> InputEncoder::Encode(
    absl::Span<const float> update, uint64_t num_examples, double train_loss,
    const SecretBytes* rounding_seed) const {
  if (num_examples == 0) {
    return absl::InvalidArgumentError(
        "cannot encode an update with zero examples");
  }
  if (!std::isfinite(train_loss) || train_loss < 0) {
    return absl::InvalidArgumentError("train loss must be finite and >= 0");
  }
  const uint64_t m =
      std::min(num_examples, static_cast<uint64_t>(params_.max_weight));
  const double w = static_cast<double>(m) / params_.max_weight;
  const double c = params_.clip_range;
  EncodedUpdate out;
  out.values.resize(encoded_length(update.size()));
  CoinStream coins(rounding_seed);
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
      static_cast<uint32_t>(StochasticRound(w * loss * loss_scale_, coins)) &
      mask_;
  const uint64_t limb_mask = (uint64_t{1} << count_limb_bits_) - 1;
  for (int k = 0; k < count_limbs_; ++k) {
    out.values[update.size() + 1 + k] =
        static_cast<uint32_t>((m >> (k * count_limb_bits_)) & limb_mask);
  }
  out.clipped_fraction =
      update.empty() ? 0.0 : static_cast<double>(clipped) / update.size();
  if (coins.failed()) {
    return absl::InternalError(
        rounding_seed == nullptr
            ? "the OS random generator failed while rounding the update"
            : "the seeded rounding generator failed");
  }
  return out;
}

int64_t InputEncoder::ToSigned(uint32_t v) const {
  const int b = params_.modulus_bits;
  const int64_t x = static_cast<int64_t>(v & mask_);
  return x >= (int64_t{1} << (b - 1)) ? x - (int64_t{1} << b) : x;
}

absl::StatusOr<DecodedAggregate> InputEncoder::Decode(
    absl::Span<const uint32_t> sum) const {
  if (sum.size() < static_cast<size_t>(count_limbs_) + 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("aggregate has ", sum.size(),
                     " values; it needs at least one update "
                     "value, the loss and ",
                     count_limbs_, " example-count value(s)"));
  }
  const size_t d = sum.size() - 1 - count_limbs_;
  // Honest limb sums lie in [0, N * (2^L - 1)] and the total in [0, N * M].
  const int64_t max_limb_sum =
      int64_t{params_.max_clients} * ((int64_t{1} << count_limb_bits_) - 1);
  unsigned __int128 total = 0;
  for (int k = 0; k < count_limbs_; ++k) {
    const int64_t limb = ToSigned(sum[d + 1 + k]);
    if (limb < 0 || limb > max_limb_sum) {
      return absl::InvalidArgumentError(absl::StrCat(
          "aggregate's example count limb ", k, " sums to ", limb,
          ", outside what ", params_.max_clients,
          " encodings can produce: a client sent a malformed encoding"));
    }
    total += static_cast<unsigned __int128>(limb) << (k * count_limb_bits_);
  }
  const double max_total = params_.max_clients * params_.max_weight;
  if (total > static_cast<unsigned __int128>(max_total)) {
    return absl::InvalidArgumentError(
        "aggregate's example count exceeds max_clients x max_weight: a client "
        "sent a malformed encoding");
  }
  if (total == 0) {
    return absl::FailedPreconditionError(
        "aggregate carries no weight: no client contributed");
  }
  DecodedAggregate out;
  out.total_examples = static_cast<uint64_t>(total);
  out.total_weight =
      static_cast<double>(out.total_examples) / params_.max_weight;
  out.mean_loss = ToSigned(sum[d]) / loss_scale_ / out.total_weight;
  out.weighted_mean = FlatVector(d);
  const double factor = 1.0 / (scale_ * out.total_weight);
  for (size_t j = 0; j < d; ++j) {
    out.weighted_mean[j] = static_cast<float>(ToSigned(sum[j]) * factor);
  }
  return out;
}

QuantizationErrorBound InputEncoder::BoundQuantizationError(
    const DecodedAggregate& aggregate, int inputs) const {
  QuantizationErrorBound b;
  b.inputs = inputs;
  const double inf = std::numeric_limits<double>::infinity();
  if (!(aggregate.total_weight > 0)) {
    b.max_abs_error = b.max_relative_error = b.rms_relative_error =
        b.max_abs_loss_error = inf;
    return b;
  }
  const double units = scale_ * aggregate.total_weight;
  const double d = static_cast<double>(aggregate.weighted_mean.size());
  double norm2 = 0;
  for (size_t j = 0; j < aggregate.weighted_mean.size(); ++j) {
    const double x = aggregate.weighted_mean[j];
    norm2 += x * x;
  }
  const double norm = std::sqrt(norm2);
  b.max_abs_error = inputs / units;
  b.max_abs_loss_error = inputs / (loss_scale_ * aggregate.total_weight);
  // ||decoded - exact|| <= sqrt(D) * max_abs + float32 rounding (2^-24 per
  // value, relative); ||exact|| >= ||decoded|| - that.
  const double err =
      std::sqrt(d) * b.max_abs_error + 0x1.0p-24 * norm * (1 + 0x1.0p-23);
  b.max_relative_error = norm > err ? err / (norm - err) : inf;
  b.rms_relative_error =
      norm > 0 ? std::sqrt(d * inputs / 4.0) / units / norm : inf;
  return b;
}

}  // namespace fedlearn
