// The validated parameters of one secure-aggregation round, shared by the
// client and server state machines.
//
// SecAggParameters::FromProto refuses any configuration the protocol cannot
// run safely: fewer than 2 clients; a cohort that is not sorted, unique, or
// made of valid ids ([A-Za-z0-9][A-Za-z0-9._-]{0,63}); a session id that is
// not 32 bytes; a degree the SecAgg+ graph rejects; a threshold outside
// ((k+1)/2, k+1] (an honest majority of the k + 1 holders of each secret:
// below it, two disjoint sets of holders could reveal both secrets of one
// client, Bonawitz et al. section 4); modulus_bits outside [1, 32]; a vector
// length outside [1, 2^28].
#ifndef FEDLEARN_COMMON_SECAGG_SECAGG_CONFIG_H_
#define FEDLEARN_COMMON_SECAGG_SECAGG_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/secure_prng.h"
#include "common/secagg/graph.h"
#include "proto/fedlearn/v1/secagg.pb.h"

namespace fedlearn {

inline constexpr size_t kSecAggSessionIdBytes = 32;
inline constexpr uint64_t kSecAggMaxVectorLength = uint64_t{1} << 28;
inline constexpr int kSecAggMinClients = 2;

// A fresh session id: kSecAggSessionIdBytes bytes from `prng`. The
// coordinator draws one per secure round; tests pass a seeded PRNG.
absl::StatusOr<std::string> NewSecAggSessionId(SecurePrng& prng = OsPrng());

struct SecAggParameters {
  std::string session_id;
  uint64_t round = 0;
  std::vector<std::string> cohort;  // sorted; index = position
  int degree = 0;                   // k
  int threshold = 0;                // t
  int modulus_bits = 32;            // b
  uint64_t vector_length = 0;       // D
  // Fewest masked inputs a sum may be unmasked over: max(t, min_survivors).
  int min_survivors = 0;
  SecAggGraph graph;

  static absl::StatusOr<SecAggParameters> FromProto(
      const v1::SecAggConfig& config);

  int num_clients() const { return static_cast<int>(cohort.size()); }
  // Position of `client_id` in the cohort, or nullopt.
  std::optional<int> IndexOf(const std::string& client_id) const;
  // 2^b - 1: values are kept reduced with `& modulus_mask()`.
  uint32_t modulus_mask() const;

 private:
  explicit SecAggParameters(SecAggGraph g) : graph(std::move(g)) {}
  std::map<std::string, int> index_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_SECAGG_SECAGG_CONFIG_H_
