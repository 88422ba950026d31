// Server round 3 (active security, Bonawitz et al. section 6): collect each
// survivor's signature over (session, round, U3). The server cannot verify
// them (it does not hold the CA): the clients do, in the next phase, and
// reveal nothing unless t of their neighbours signed the same U3.
//
// Advance(): U4 = signers; aborts if fewer than t, or if U4's shares could no
// longer rebuild every needed secret. Each client in U4 gets an
// UnmaskingRequest with U3 and its U4 neighbours' signatures. Survivors that
// did not sign stay in the sum: their seeds are rebuilt from others' shares.
#ifndef FEDLEARN_SERVER_SECAGG_CONSISTENCY_CHECK_STATE_H_
#define FEDLEARN_SERVER_SECAGG_CONSISTENCY_CHECK_STATE_H_

#include <map>
#include <set>
#include <string>

#include "server/secagg/server_state.h"

namespace fedlearn {

class ConsistencyCheckServerState : public SecAggServerState {
 public:
  ConsistencyCheckServerState(std::shared_ptr<ServerRoundContext> context,
                              std::set<int> u2, std::set<int> u3)
      : SecAggServerState(std::move(context), u3),
        u2_(std::move(u2)),
        u3_(std::move(u3)) {}
  SecAggServerPhase phase() const override {
    return SecAggServerPhase::kConsistencyCheck;
  }
  absl::StatusOr<std::unique_ptr<SecAggServerState>> Advance() override;

 protected:
  absl::Status HandlePhaseMessage(
      int index, const v1::SecAggClientMessage& message) override;

 private:
  std::set<int> u2_;
  std::set<int> u3_;
  std::map<int, std::string> signatures_;
};

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_SECAGG_CONSISTENCY_CHECK_STATE_H_
