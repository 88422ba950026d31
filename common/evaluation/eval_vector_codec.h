// Carries a SiteEvalReport inside secure aggregation's masked vector, after
// the update's encoding (common/secagg/input_encoding.h), so the
// coordinator learns only the sum of the sites' reports.
//
// Each report value v (a whole number with a public bound B_v derived from
// the layout and EvaluationTask.max_examples) is split, least significant
// limb first, into ceil(bits(B_v) / L) limbs of L = b - 1 - ceil(log2 N)
// bits (b = modulus bits, N = max_clients), as the update encoding splits
// its example count: N limbs sum below 2^(b-1), so no sum wraps and the
// decoded sum is exact. Encode refuses (OutOfRange) a value above its
// bound; DecodeSum refuses (InvalidArgument) a limb sum that N honest
// encodings cannot produce, and a reassembled value above N * B_v.
//
// Immutable after Create(); thread-safe.
#ifndef FEDLEARN_COMMON_EVALUATION_EVAL_VECTOR_CODEC_H_
#define FEDLEARN_COMMON_EVALUATION_EVAL_VECTOR_CODEC_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/evaluation/site_eval_report.h"

namespace fedlearn {

class EvalVectorCodec {
 public:
  // InvalidArgument if b is outside [2, 32], no limb fits (b too small for
  // N), max_examples is zero or >= 2^60, or N x B_v could exceed 64 bits.
  static absl::StatusOr<EvalVectorCodec> Create(const EvalLayout& layout,
                                                int modulus_bits,
                                                int max_clients,
                                                uint64_t max_examples);

  // Masked values the report takes.
  size_t length() const;
  // L of the header comment, and each report value's public bound B_v
  // (SiteReportBounds) and limb count, in ToVector() order.
  int limb_bits() const { return limb_bits_; }
  const std::vector<uint64_t>& bounds() const { return bounds_; }
  const std::vector<int>& limbs() const { return limbs_; }
  // Values < 2^b, length() of them. InvalidArgument if the report's shape
  // is not the layout's; OutOfRange if a value exceeds its bound.
  absl::StatusOr<std::vector<uint32_t>> Encode(
      const SiteEvalReport& report) const;
  // `sum`: length() values, the mod-2^b sum of at most max_clients
  // encodings.
  absl::StatusOr<SiteEvalReport> DecodeSum(
      absl::Span<const uint32_t> sum) const;

 private:
  EvalVectorCodec() = default;
  EvalLayout layout_;
  int modulus_bits_ = 0;
  int limb_bits_ = 0;
  uint64_t max_clients_ = 0;
  std::vector<int> limbs_;        // per report value, in ToVector() order
  std::vector<uint64_t> bounds_;  // per report value
  size_t length_ = 0;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_EVALUATION_EVAL_VECTOR_CODEC_H_
