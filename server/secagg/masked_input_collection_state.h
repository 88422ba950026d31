// Server round 2: collect masked inputs from U2 over the vector stream. Each
// is checked (length D, every value < 2^b) before anything is added, then
// folded at once into the running sum mod 2^32 (memory O(D + n): no input is
// kept). Proto messages other than Abort are refused in this phase.
//
// Advance(): U3 = clients whose input was folded in; aborts if fewer than t,
// or if some secret the unmasking needs could no longer be rebuilt. Each
// client in U3 gets a ConsistencyCheckRequest with U3.
#ifndef FEDLEARN_SERVER_SECAGG_MASKED_INPUT_COLLECTION_STATE_H_
#define FEDLEARN_SERVER_SECAGG_MASKED_INPUT_COLLECTION_STATE_H_

#include <set>

#include "server/secagg/server_state.h"

namespace fedlearn {

class MaskedInputCollectionState : public SecAggServerState {
 public:
  MaskedInputCollectionState(std::shared_ptr<ServerRoundContext> context,
                             std::set<int> u2);
  SecAggServerPhase phase() const override {
    return SecAggServerPhase::kMaskedInputCollection;
  }
  absl::Status HandleMaskedInput(int index,
                                 absl::Span<const uint32_t> masked) override;
  absl::StatusOr<std::unique_ptr<SecAggServerState>> Advance() override;

 private:
  std::set<int> u2_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_MASKED_INPUT_COLLECTION_STATE_H_
