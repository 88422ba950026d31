// Round 4 ("Unmasking"): the server repeats U3 with the consistency
// signatures of this client's neighbours. The client aborts unless U3 is
// exactly the list it signed, every signature comes from a distinct
// neighbour in U3 and verifies (certificate chained to the CA, id = CN) over
// that same U3, and at least t - 1 neighbours signed (t with itself). Then,
// for each neighbour v that sent it key shares, it reveals exactly ONE share:
// the self-mask seed share if v is in U3, the masking-key share otherwise.
// A neighbour that never sent shares gets nothing. It adds its own seed
// share. Because the choice depends only on the one U3 it signed, no request
// can make it reveal both shares of one client.
#ifndef FEDLEARN_CLIENT_SECAGG_UNMASKING_STATE_H_
#define FEDLEARN_CLIENT_SECAGG_UNMASKING_STATE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/secagg/client_state.h"
#include "common/crypto/shamir.h"
#include "common/secagg/key_shares.h"

namespace fedlearn {

class UnmaskingState : public SecAggClientState {
 public:
  UnmaskingState(std::shared_ptr<const ClientRoundContext> context,
                 ShamirShare own_seed_share, std::map<int, KeyShares> received,
                 std::map<int, NeighbourKeys> neighbours,
                 std::vector<std::string> survivors)
      : context_(std::move(context)),
        own_seed_share_(std::move(own_seed_share)),
        received_(std::move(received)),
        neighbours_(std::move(neighbours)),
        survivors_(std::move(survivors)) {}
  ~UnmaskingState() override { WipeShamirShare(&own_seed_share_); }

  const char* Name() const override { return "Unmasking"; }
  absl::StatusOr<Transition> Handle(
      const v1::SecAggServerMessage& message) override;

 private:
  absl::Status VerifySignatures(const v1::UnmaskingRequest& request) const;

  std::shared_ptr<const ClientRoundContext> context_;
  ShamirShare own_seed_share_;
  std::map<int, KeyShares> received_;  // by sender index
  std::map<int, NeighbourKeys> neighbours_;
  std::vector<std::string> survivors_;  // U3 as signed
};

}  // namespace fedlearn

#endif  // FEDLEARN_CLIENT_SECAGG_UNMASKING_STATE_H_
