// Secure-aggregation settings of a run, in the round engine's terms (the
// coordinator's TOML adapter maps its [secagg] keys onto these fields).
//
// Validate() refuses settings no cohort could use: an encoding whose sum
// overflows for the smallest secure cohort (3 clients), a SecAgg+ graph that
// cannot be built at `dropout_rate`/`security_bits`, a non-positive phase
// timeout, a `ca_pem` that holds no certificate. A plain value type;
// thread-compatible.
#ifndef FEDLEARN_SERVER_ROUND_SECAGG_ROUND_CONFIG_H_
#define FEDLEARN_SERVER_ROUND_SECAGG_ROUND_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "common/secagg/input_encoding.h"
#include "common/util/clock.h"

namespace fedlearn {

struct SecAggRoundConfig {
  bool enabled = true;
  int modulus_bits = 32;
  int quantization_bits = 20;
  double clip_range = 1.0;
  double max_weight = 10000;
  // Planned dropout rate and security parameter for the SecAgg+ graph
  // (common/secagg/graph.h).
  double dropout_rate = 0.1;
  int security_bits = 20;
  Duration phase_timeout{std::chrono::seconds(30)};
  // The federation CA (PEM) the coordinator checks every AdvertiseKeys
  // against before forwarding it (certificate chain, CN, signature;
  // server/secagg/advertisement_verifier.h). The coordinator fills it from
  // its TLS CA file. Empty: advertisements are checked for size and
  // duplicates only and each client's own checks are the only defence
  // (in-process tests; a coordinator never runs secure aggregation without
  // TLS, see ValidateCoordinatorConfig).
  std::string ca_pem;

  absl::Status Validate() const;
  // The client-side encoding of a round whose cohort has `max_clients`.
  EncodingParameters Encoding(int max_clients) const;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_ROUND_SECAGG_ROUND_CONFIG_H_
