#include "client/update_encoding.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crypto/mask_prg.h"
#include "common/crypto/sha256.h"
#include "common/dp/noise_source.h"
#include "common/dp/private_input_codec.h"
#include "common/secagg/encoding_proto.h"
#include "common/secagg/input_encoding.h"
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
