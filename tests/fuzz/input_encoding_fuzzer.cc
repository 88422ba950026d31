// The secure-aggregation input encoding (common/secagg/input_encoding.h,
// encoding_proto.h) as each side meets it: a client builds its InputEncoder
// from the SecAggEncoding a coordinator sent, and the coordinator decodes an
// unmasked sum that any cohort member could have skewed. The input chooses
// the five wire fields (mostly near the valid ranges), a model dimension and
// the summed values; Create, Decode and BoundQuantizationError must refuse
// or succeed, never crash, and a successful encode of a float update must
// decode to something finite.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/secagg/encoding_proto.h"
#include "common/secagg/input_encoding.h"
#include "tests/fuzz/fuzz_quiet.h"
#include "tests/fuzz/fuzz_util.h"

namespace fedlearn {
namespace {

v1::SecAggEncoding ConsumeEncoding(FuzzedDataProvider& in) {
  v1::SecAggEncoding e;
  const bool wild = in.ConsumeBool();
  e.set_modulus_bits(wild ? in.ConsumeIntegral<uint32_t>()
                          : in.ConsumeIntegralInRange<uint32_t>(0, 40));
  e.set_quantization_bits(wild ? in.ConsumeIntegral<uint32_t>()
                               : in.ConsumeIntegralInRange<uint32_t>(0, 40));
  e.set_clip_range(wild ? in.ConsumeFloatingPoint<double>()
                        : in.ConsumeFloatingPointInRange<double>(-1, 100));
  e.set_max_weight(wild ? in.ConsumeFloatingPoint<double>()
                        : in.ConsumeFloatingPointInRange<double>(-1, 1e6));
  e.set_max_clients(wild ? in.ConsumeIntegral<uint32_t>()
                         : in.ConsumeIntegralInRange<uint32_t>(0, 2000));
  return e;
}

void EncodeAndDecode(const InputEncoder& encoder, FuzzedDataProvider& in) {
  std::vector<float> update(in.ConsumeIntegralInRange<size_t>(1, 64));
  for (float& v : update) v = in.ConsumeFloatingPoint<float>();
  const uint64_t examples = in.ConsumeIntegral<uint64_t>();
  const double loss = in.ConsumeFloatingPoint<double>();
  absl::StatusOr<EncodedUpdate> encoded =
      encoder.Encode(update, examples, loss);
  if (!encoded.ok()) return;
  fuzz::FuzzCheck(
      encoded->values.size() == encoder.encoded_length(update.size()),
      "encoded length differs from encoded_length");
  absl::StatusOr<DecodedAggregate> decoded = encoder.Decode(encoded->values);
  fuzz::FuzzCheck(decoded.ok(), "one honest encoding does not decode");
  for (float v : decoded->weighted_mean.span()) {
    fuzz::FuzzCheck(std::isfinite(v), "decoded a non-finite mean");
  }
}

}  // namespace
}  // namespace fedlearn

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fedlearn::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedlearn;
  FuzzedDataProvider in(data, size);
  const v1::SecAggEncoding wire = ConsumeEncoding(in);
  const EncodingParameters params = EncodingParametersFromProto(wire);
  // LargestQuantizationBits and CountLimbBits assume modulus_bits in [2, 32]
  // (Create and ChooseCohortEncoding check it before calling them).
  if (params.modulus_bits >= 2 && params.modulus_bits <= 32) {
    (void)LargestQuantizationBits(params.modulus_bits, params.max_clients);
    (void)CountLimbBits(params.modulus_bits, params.max_clients);
  }
  (void)ChooseCohortEncoding(params, in.ConsumeIntegral<int>(),
                             in.ConsumeIntegral<uint64_t>(),
                             in.ConsumeIntegralInRange<int>(0, 3));
  absl::StatusOr<InputEncoder> encoder = InputEncoder::Create(params);
  if (!encoder.ok()) return 0;
  if (in.ConsumeBool()) {
    EncodeAndDecode(*encoder, in);
    return 0;
  }
  // A sum of the right length for some dimension D >= 1, any values.
  const size_t d = in.ConsumeIntegralInRange<size_t>(1, 256);
  std::vector<uint32_t> sum(encoder->encoded_length(d));
  for (uint32_t& v : sum) v = in.ConsumeIntegral<uint32_t>();
  absl::StatusOr<DecodedAggregate> decoded = encoder->Decode(sum);
  if (decoded.ok()) {
    (void)encoder->BoundQuantizationError(
        *decoded,
        in.ConsumeIntegralInRange<int>(1, std::max(1, params.max_clients)));
  }
  return 0;
}
