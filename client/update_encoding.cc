#include "client/update_encoding.h"

#include <cmath>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/training/qffl_transform.h"
#include "common/config/qffl_update.h"
#include "common/crypto/mask_prg.h"
#include "common/crypto/sha256.h"
#include "common/dp/noise_source.h"
#include "common/dp/private_input_codec.h"
#include "common/secagg/encoding_proto.h"
#include "common/secagg/input_encoding.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"

namespace fedlearn {

absl::Status CheckPrivacyRequirement(const ReceivedTask& task,
                                     const PrivacyRequirement& required) {
  using Level = PrivacyRequirement::Level;
  if (required.level == Level::kNone) return absl::OkStatus();
  if (!task.dp) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round ", task.round,
        " is not differentially private and this client requires DP; not "
        "training"));
  }
  if (required.level == Level::kDp) return absl::OkStatus();
  if (task.dp->mode() != v1::DpTaskConfig::DISTRIBUTED || !task.secagg) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round ", task.round,
        " does not use distributed DP inside secure aggregation, which this "
        "client requires; not training"));
  }
  const double z = task.dp->clip_norm() > 0
                       ? task.dp->noise_stddev() / task.dp->clip_norm()
                       : 0.0;
  if (!(z >= required.min_noise_multiplier)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "round %d asks for noise multiplier %.4g, below this client's "
        "minimum %.4g; not training",
        task.round, z, required.min_noise_multiplier));
  }
  return absl::OkStatus();
}

absl::StatusOr<ClipOutcome> ClipUpdateForRound(const ReceivedTask& task,
                                               TrainingResult* result) {
  if (!task.dp) return ClipOutcome{};  // nothing to clip, nothing to log
  return ClipToL2Norm(result->delta.span(), task.dp->clip_norm());
}

absl::Status PrepareQfflUpdate(const ReceivedTask& task,
                               TrainingResult* result) {
  if (!QfflEnabled(task.training)) return absl::OkStatus();
  const double clip_range =
      task.secagg.has_value() ? task.encoding.clip_range() : 0.0;
  RETURN_IF_ERROR(ApplyQfflTransform(task.training, task.dp.has_value(),
                                     clip_range, result));
  // F^q scales the delta: say when the encoding will clip it (the secure
  // step then differs from the plaintext one; docs/strategies.md).
  size_t clipped = 0;
  for (size_t j = 0; clip_range > 0 && j + 1 < result->delta.size(); ++j) {
    if (std::abs(result->delta[j]) > clip_range) ++clipped;
  }
  if (clipped > 0) {
    spdlog::warn(
        "round {}: q-FFL: {} of {} values F^q * delta exceed "
        "secagg.clip_range {} and are clipped; raise it for the exact step",
        task.round, clipped, result->delta.size() - 1, clip_range);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint32_t>> EncodeForSecureAggregation(
    const ReceivedTask& task, const TrainingResult& result,
    const ClipOutcome& clip, const SecretBytes* rounding_seed) {
  if (task.dp) {
    ASSIGN_OR_RETURN(PrivateInputCodec codec,
                     PrivateInputCodec::Create(*task.dp, task.encoding,
                                               result.delta.size()));
    ASSIGN_OR_RETURN(NoiseSource rng, NoiseSource::FromOsEntropy());
    return codec.Encode(result.delta.span(), !clip.clipped, rng);
  }
  // The round's parameters, derived exactly as the coordinator derives them.
  ASSIGN_OR_RETURN(
      InputEncoder encoder,
      InputEncoder::Create(EncodingParametersFromProto(task.encoding)));
  ASSIGN_OR_RETURN(EncodedUpdate encoded,
                   encoder.Encode(result.delta.span(), result.num_examples,
                                  result.train_loss, rounding_seed));
  return std::move(encoded.values);
}

SecretBytes SimulationRoundingSeed(uint64_t simulation_seed,
                                   const std::string& client_id,
                                   const std::string& run_id, uint64_t round) {
  // Length-prefixed fields: no two inputs share an encoding.
  const std::string material = absl::StrCat(
      "fedlearn/sim/rounding-seed/v1|", simulation_seed, "|", client_id.size(),
      ":", client_id, "|", run_id.size(), ":", run_id, "|", round);
  std::string digest = absl::HexStringToBytes(Sha256Hex(material));
  static_assert(kPrgSeedBytes == 32, "a SHA-256 digest is the whole seed");
  return SecretBytes::FromString(std::move(digest));
}

}  // namespace fedlearn
