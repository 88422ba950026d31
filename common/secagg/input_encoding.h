// Turns a client's float update into the integer vector secure aggregation
// sums, and the sum back into a weighted mean.
//
// Encoding of update δ (length D) with FedAvg weight n (example count) and
// local training loss L:
//   w        = min(n, max_weight) / max_weight          in (0, 1]
//   v_j      = w * clip(δ_j, -clip_range, clip_range)    in [-c, c]
//   out_j    = SR(v_j * scale) mod 2^b,   j < D          (two's complement)
//   out_D    = SR(w * min(L, kMaxLoss) * loss_scale)     (the loss rides along)
//   out_D+1  = SR(w * weight_scale) mod 2^b              (and so does the weight)
// where SR is unbiased stochastic rounding with coins from the OS CSPRNG,
// scale = (2^(q-1) - 1) / c, loss_scale = (2^(q-1) - 1) / kMaxLoss and
// weight_scale = 2^(q-1) - 1, q =
// quantization_bits. Each encoded value lies in [-(2^(q-1)-1), 2^(q-1)-1],
// so the sum of n_max of them cannot wrap iff n_max * (2^(q-1)-1) <
// 2^(b-1): Create() refuses any configuration where it could, naming the
// knob to change. Decoding reads the sum as signed and divides:
//   mean_j = (Σ out_j / scale) / (Σ out_D+1 / weight_scale),
// and likewise the weighted mean loss. The coordinator thus learns the
// round's loss only in aggregate, like the update.
// The error per coordinate is at most n_max / scale / Σ w (rounding),
// unbiased in expectation.
#ifndef FEDLEARN_COMMON_SECAGG_INPUT_ENCODING_H_
#define FEDLEARN_COMMON_SECAGG_INPUT_ENCODING_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/flat/flat_vector.h"

namespace fedlearn {

struct EncodingParameters {
  int modulus_bits = 32;       // b
  int quantization_bits = 20;  // q
  double clip_range = 1.0;     // c: per-coordinate bound on the update
  double max_weight = 10000;   // example count that earns full weight
  int max_clients = 1000;      // n_max summed at most
};

inline constexpr double kMaxEncodedLoss = 100.0;

// Bytes per masked value on the wire: values live in Z_(2^b), so b <= 16
// fits two bytes (SecAgg at 16 bits then costs 2 bytes per parameter).
inline int MaskedValueBytes(int modulus_bits) { return modulus_bits <= 16 ? 2 : 4; }

struct EncodedUpdate {
  std::vector<uint32_t> values;  // D + 2 values < 2^b
  double clipped_fraction = 0;   // coordinates that hit ±clip_range
};

struct DecodedAggregate {
  FlatVector weighted_mean;  // Σ w·clip(δ) / Σ w
  double mean_loss = 0;      // Σ w·L / Σ w
  double total_weight = 0;   // Σ w (in units of max_weight examples)
};

class InputEncoder {
 public:
  static absl::StatusOr<InputEncoder> Create(const EncodingParameters& params);

  const EncodingParameters& params() const { return params_; }
  uint32_t modulus_mask() const { return mask_; }

  // Length of the encoded vector for a D-value update.
  static size_t EncodedLength(size_t d) { return d + 2; }
  // InvalidArgument for non-finite values or loss, or a zero example count.
  absl::StatusOr<EncodedUpdate> Encode(absl::Span<const float> update,
                                       uint64_t num_examples,
                                       double train_loss = 0) const;
  // `sum` has D + 2 values; FailedPrecondition if the total weight is zero.
  absl::StatusOr<DecodedAggregate> Decode(absl::Span<const uint32_t> sum) const;

 private:
  explicit InputEncoder(const EncodingParameters& params);
  int64_t ToSigned(uint32_t v) const;

  EncodingParameters params_;
  uint32_t mask_;
  double scale_;
  double loss_scale_;
  double weight_scale_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_SECAGG_INPUT_ENCODING_H_
