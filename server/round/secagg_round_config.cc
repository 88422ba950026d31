#include "server/round/secagg_round_config.h"

#include "common/secagg/graph.h"
#include "common/util/status_macros.h"
#include "server/secagg/advertisement_verifier.h"

namespace fedlearn {

absl::Status SecAggRoundConfig::Validate() const {
  if (!enabled) return absl::OkStatus();
  RETURN_IF_ERROR(InputEncoder::Create(Encoding(3)).status());
  RETURN_IF_ERROR(
      ChooseGraphParameters(3, dropout_rate, security_bits).status());
  if (phase_timeout.count() <= 0) {
    return absl::InvalidArgumentError("secagg.phase_timeout must be positive");
  }
  if (!ca_pem.empty()) {
    RETURN_IF_ERROR(CertificateAdvertisementVerifier::Create(ca_pem).status());
  }
  return absl::OkStatus();
}

EncodingParameters SecAggRoundConfig::Encoding(int max_clients) const {
  EncodingParameters p;
  p.modulus_bits = modulus_bits;
  p.quantization_bits = quantization_bits;
  p.clip_range = clip_range;
  p.max_weight = max_weight;
  p.max_clients = max_clients;
  return p;
}

}  // namespace fedlearn
