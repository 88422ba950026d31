#include "server/secagg/server_phase.h"

namespace fedlearn {

const char* SecAggServerPhaseName(SecAggServerPhase phase) {
  switch (phase) {
    case SecAggServerPhase::kAdvertiseKeys:
      return "AdvertiseKeys";
    case SecAggServerPhase::kShareKeys:
      return "ShareKeys";
    case SecAggServerPhase::kMaskedInputCollection:
      return "MaskedInputCollection";
    case SecAggServerPhase::kConsistencyCheck:
      return "ConsistencyCheck";
    case SecAggServerPhase::kUnmasking:
      return "Unmasking";
    case SecAggServerPhase::kCompleted:
      return "Completed";
    case SecAggServerPhase::kAborted:
      return "Aborted";
  }
  return "?";
}

}  // namespace fedlearn
