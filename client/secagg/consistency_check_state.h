// Round 3 ("ConsistencyCheck", the actively secure variant of Bonawitz et al.):
// the server announces U3, the clients whose masked input arrived. The client
// aborts if U3 is not sorted and unique, names a non-cohort id, has fewer
// than t members, lacks the client itself, or names a neighbour that never
// sent it key shares (such a survivor cannot exist for an honest server).
// Otherwise it signs (session, round, U3) with its TLS key; the next phase
// reveals nothing unless t neighbours signed the same U3.
#ifndef FEDLEARN_CLIENT_SECAGG_CONSISTENCY_CHECK_STATE_H_
#define FEDLEARN_CLIENT_SECAGG_CONSISTENCY_CHECK_STATE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/secagg/client_state.h"
#include "common/crypto/shamir.h"
#include "common/secagg/key_shares.h"

namespace fedlearn {

class ConsistencyCheckState : public SecAggClientState {
 public:
  ConsistencyCheckState(std::shared_ptr<const ClientRoundContext> context,
                        ShamirShare own_seed_share,
                        std::map<int, KeyShares> received,
                        std::map<int, NeighbourKeys> neighbours)
      : context_(std::move(context)),
        own_seed_share_(std::move(own_seed_share)),
        received_(std::move(received)),
        neighbours_(std::move(neighbours)) {}
  ~ConsistencyCheckState() override { WipeShamirShare(&own_seed_share_); }

  const char* Name() const override { return "ConsistencyCheck"; }
  absl::StatusOr<Transition> Handle(
      const v1::SecAggServerMessage& message) override;

 private:
  std::shared_ptr<const ClientRoundContext> context_;
  ShamirShare own_seed_share_;
  std::map<int, KeyShares> received_;  // by sender index
  std::map<int, NeighbourKeys> neighbours_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECAGG_CONSISTENCY_CHECK_STATE_H_
