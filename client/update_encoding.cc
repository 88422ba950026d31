#include "client/update_encoding.h"

#include "common/dp/noise_source.h"
#include "common/dp/private_input_codec.h"
#include "common/secagg/input_encoding.h"

namespace fedlearn {

absl::StatusOr<ClipOutcome> ClipUpdateForRound(const ReceivedTask& task,
                                               TrainingResult* result) {
  if (!task.dp) {
    ClipOutcome none;
    none.norm_before = L2Norm(result->delta.span());
    return none;
  }
  return ClipToL2Norm(result->delta.span(), task.dp->clip_norm());
}

absl::StatusOr<std::vector<uint32_t>> EncodeForSecureAggregation(
    const ReceivedTask& task, const TrainingResult& result,
    const ClipOutcome& clip) {
  if (task.dp) {
    absl::StatusOr<PrivateInputCodec> codec = PrivateInputCodec::Create(
        *task.dp, task.encoding, result.delta.size());
    if (!codec.ok()) return codec.status();
    absl::StatusOr<NoiseSource> rng = NoiseSource::FromOsEntropy();
    if (!rng.ok()) return rng.status();
    return codec->Encode(result.delta.span(), !clip.clipped, *rng);
  }
  EncodingParameters params;
  params.modulus_bits = static_cast<int>(task.encoding.modulus_bits());
  params.quantization_bits =
      static_cast<int>(task.encoding.quantization_bits());
  params.clip_range = task.encoding.clip_range();
  params.max_weight = task.encoding.max_weight();
  params.max_clients = static_cast<int>(task.encoding.max_clients());
  absl::StatusOr<InputEncoder> encoder = InputEncoder::Create(params);
  if (!encoder.ok()) return encoder.status();
  absl::StatusOr<EncodedUpdate> encoded = encoder->Encode(
      result.delta.span(), result.num_examples, result.train_loss);
  if (!encoded.ok()) return encoded.status();
  return std::move(encoded->values);
}

}  // namespace fedlearn
