// The phases of a server-side secure-aggregation round, in order, and their
// names for logs and errors. Pure values; thread-safe.
#ifndef FEDLEARN_SERVER_SECAGG_SERVER_PHASE_H_
#define FEDLEARN_SERVER_SECAGG_SERVER_PHASE_H_

namespace fedlearn {

enum class SecAggServerPhase {
  kAdvertiseKeys,
  kShareKeys,
  kMaskedInputCollection,
  kConsistencyCheck,
  kUnmasking,
  kCompleted,
  kAborted,
};

// "AdvertiseKeys", "ShareKeys", ...; never null.
const char* SecAggServerPhaseName(SecAggServerPhase phase);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_SERVER_PHASE_H_
