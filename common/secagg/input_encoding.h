// Turns a client's float update into the integer vector secure aggregation
// sums, and the sum back into a weighted mean whose precision does not
// depend on how small the sites are.
//
// Encoding of update δ (length D) with FedAvg example count n and local
// training loss L, for parameters (b, q, c, M = max_weight, N = max_clients):
//   m        = min(n, M)                                 whole examples
//   w        = m / M                                     in (0, 1]
//   out_j    = SR(w * clip(δ_j, -c, c) * scale) mod 2^b, j < D (two's compl.)
//   out_D    = SR(w * min(L, kMaxLoss) * loss_scale)     (the loss rides along)
//   out_D+1+k = limb k of m, k < K                       (the exact count)
// where SR is unbiased stochastic rounding with coins from the OS CSPRNG
// (or, in a simulation that asks for reproducible runs, from a seeded PRG:
// Encode's `rounding_seed`), scale = (2^(q-1) - 1) / c and loss_scale =
// (2^(q-1) - 1) / kMaxLoss.
//
// No sum wraps: each out_j (j <= D) lies in [-(2^(q-1)-1), 2^(q-1)-1], so N
// of them cannot reach 2^(b-1) iff N * (2^(q-1)-1) < 2^(b-1); the count is
// split, least significant limb first, into K limbs of
// L = b - 1 - ceil(log2 N) bits each (K = ceil(bits(M) / L)), so N limbs sum
// below N * 2^L <= 2^(b-1). Create() refuses any parameters where a sum
// could wrap, naming the knob to change.
//
// Decoding reads each sum as signed, rebuilds the exact total count
// Σm = Σ_k limb_k * 2^(kL), so Σw = Σm / M exactly, and divides:
//   mean_j = Σ out_j / (scale * Σw),   mean_loss = Σ out_D / (loss_scale * Σw).
// The coordinator thus learns the round's loss and example count only in
// aggregate, like the update.
//
// Precision. Each client's rounding error is in (-1, 1) units, mean 0,
// variance <= 1/4, so with n summed inputs the mean is off per coordinate by
// less than n / (scale * Σw) (BoundQuantizationError). That is small only
// when Σw is not: ChooseCohortEncoding() picks, per round, M = the largest
// declared example count of the cohort rounded up to a power of two (so the
// biggest site has w > 1/2 and Σw > 1/2 whenever declarations are honest,
// and clients learn only the magnitude of the largest site) and the largest
// q the cohort size allows. A fixed M far above the sites' sizes (say 10000 for
// 220-row sites: w = 0.022) makes Σw tiny and the error large.
//
// Thread-safety: InputEncoder is immutable after Create(); Encode and Decode
// may run concurrently.
#ifndef FEDLEARN_COMMON_SECAGG_INPUT_ENCODING_H_
#define FEDLEARN_COMMON_SECAGG_INPUT_ENCODING_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/crypto/secret_bytes.h"
#include "common/flat/flat_vector.h"

namespace fedlearn {

struct EncodingParameters {
  int modulus_bits = 32;       // b
  int quantization_bits = 20;  // q
  double clip_range = 1.0;     // c: per-coordinate bound on the update
  // M: example count that earns full weight; a whole number >= 1.
  double max_weight = 10000;
  int max_clients = 1000;  // N: most encodings ever summed
};

inline constexpr double kMaxEncodedLoss = 100.0;
// The PRG domain of seeded rounding coins (Encode's rounding_seed).
inline constexpr char kSeededRoundingDomain[] = "fedlearn/sim/rounding/v1";

// Bytes per masked value on the wire: values live in Z_(2^b), so b <= 16
// fits two bytes (SecAgg at 16 bits then costs 2 bytes per parameter).
inline int MaskedValueBytes(int modulus_bits) {
  return modulus_bits <= 16 ? 2 : 4;
}

// The largest q such that `clients` values of magnitude 2^(q-1) - 1 sum
// below 2^(b-1), capped at b; 0 if not even q = 2 fits.
int LargestQuantizationBits(int modulus_bits, int clients);

// Bits per limb of the example count: b - 1 - ceil(log2 clients); 0 if the
// count cannot be carried at all.
int CountLimbBits(int modulus_bits, int clients);

// The encoding of one round, chosen from its cohort (see the header comment):
//   max_clients       = cohort_size;
//   quantization_bits = LargestQuantizationBits(b, cohort_size), refused
//                       (InvalidArgument naming secagg.quantization_bits) if
//                       below `configured.quantization_bits`, which is a floor;
//   max_weight        = min(configured.max_weight, the power of two at or
//                       above max(1, largest_declared)), and, if
//                       max_count_limbs > 0, at most what that many count
//                       limbs carry (2^(K*L) - 1).
// The caller bounds `largest_declared` (untrusted client claims) first.
absl::StatusOr<EncodingParameters> ChooseCohortEncoding(
    const EncodingParameters& configured, int cohort_size,
    uint64_t largest_declared, int max_count_limbs = 0);

struct EncodedUpdate {
  std::vector<uint32_t> values;  // encoded_length(D) values < 2^b
  double clipped_fraction = 0;   // coordinates that hit ±clip_range
};

struct DecodedAggregate {
  FlatVector weighted_mean;     // Σ w·clip(δ) / Σ w
  double mean_loss = 0;         // Σ w·L / Σ w
  double total_weight = 0;      // Σ w = total_examples / max_weight, exactly
  uint64_t total_examples = 0;  // Σ min(n, max_weight), exact
};

// What the quantization alone may have done to a decoded mean (clipping at
// ±clip_range is not included: only the clients see their updates, so the
// clipped fraction cannot be computed from the sum).
struct QuantizationErrorBound {
  int inputs = 0;  // encodings summed
  // Worst case, per coordinate: |decoded - exact| < inputs / (scale * Σw).
  double max_abs_error = 0;
  // Worst case ||decoded - exact||_2 / ||exact||_2, counting the float32
  // rounding of the result; +inf when the bound exceeds the decoded norm.
  double max_relative_error = 0;
  // Expected RMS: sqrt(D * inputs / 4) / (scale * Σw) / ||decoded||_2
  // (stochastic rounding has variance <= 1/4 per value); +inf for a zero mean.
  double rms_relative_error = 0;
  // Worst case on the decoded mean loss.
  double max_abs_loss_error = 0;
};

class InputEncoder {
 public:
  static absl::StatusOr<InputEncoder> Create(const EncodingParameters& params);

  const EncodingParameters& params() const { return params_; }
  uint32_t modulus_mask() const { return mask_; }
  // K and L of the header comment.
  int count_limbs() const { return count_limbs_; }
  int count_limb_bits() const { return count_limb_bits_; }

  // Length of the encoded vector for a D-value update: D + 1 + K.
  size_t encoded_length(size_t d) const { return d + 1 + count_limbs_; }
  // D + 2: the length when the count takes one limb, which it always does
  // for unit weight (max_weight = 1, as DP rounds use) and in every round
  // the coordinator plans (ChooseCohortEncoding with max_count_limbs = 1).
  static size_t EncodedLength(size_t d) { return d + 2; }

  // InvalidArgument for non-finite values or loss, or a zero example count.
  // `rounding_seed` null: rounding coins from the OS CSPRNG (always, in a
  // deployment). Non-null (fedlearn-sim only, to make a seeded simulation
  // reproducible byte for byte): coins from ExpandMask(*rounding_seed,
  // kSeededRoundingDomain), the same for the same seed. The coins hide
  // nothing (the masks do), so seeding them costs no privacy without DP;
  // DP noise is never drawn from here.
  absl::StatusOr<EncodedUpdate> Encode(
      absl::Span<const float> update, uint64_t num_examples,
      double train_loss = 0, const SecretBytes* rounding_seed = nullptr) const;
  // `sum` has encoded_length(D) values, D >= 1. FailedPrecondition if the
  // total count is zero; InvalidArgument if a count limb's sum is outside
  // what `max_clients` honest encodings can produce.
  absl::StatusOr<DecodedAggregate> Decode(absl::Span<const uint32_t> sum) const;

  // REQUIRES: `aggregate` came from Decode() of a sum of `inputs` encodings.
  QuantizationErrorBound BoundQuantizationError(
      const DecodedAggregate& aggregate, int inputs) const;

 private:
  explicit InputEncoder(const EncodingParameters& params);
  int64_t ToSigned(uint32_t v) const;

  EncodingParameters params_;
  uint32_t mask_;
  double scale_;
  double loss_scale_;
  int count_limb_bits_;
  int count_limbs_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_SECAGG_INPUT_ENCODING_H_
